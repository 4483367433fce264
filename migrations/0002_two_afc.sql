-- 2AFC experiments: reference images cut into triplets (reference patch and
-- two distorted versions), handed to workers in assignments, and the
-- judgments that come back.
--
-- The CHECK constraints back up the validation the application does with
-- clearer messages: whatever writes here, the rows stay meaningful.

CREATE TABLE experiments (
    id                         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id                   BIGINT NOT NULL REFERENCES researchers (id),
    name                       TEXT NOT NULL CHECK (name <> ''),
    kind                       TEXT NOT NULL CHECK (kind IN ('2afc', 'jnd')),
    -- BAPPS' train/val split: val collects more judgments per triplet.
    split                      TEXT NOT NULL CHECK (split <> ''),
    -- What the reference images show (BAPPS: cnn, traditional, …); free text.
    category                   TEXT,
    patch_size                 INT NOT NULL DEFAULT 64 CHECK (patch_size BETWEEN 8 AND 1024),
    patches_per_image          INT NOT NULL CHECK (patches_per_image > 0),
    -- How distortion pipelines were drawn ({min_steps, max_steps, types}),
    -- and the seed every crop, pipeline and sentinel derives from: together
    -- with the reference images they regenerate the stimuli.
    sampler                    JSONB NOT NULL,
    seed                       BIGINT NOT NULL,
    judgments_per_triplet      INT NOT NULL CHECK (judgments_per_triplet > 0),
    trials_per_assignment      INT NOT NULL CHECK (trials_per_assignment > 0),
    sentinel_rate              REAL NOT NULL CHECK (sentinel_rate >= 0 AND sentinel_rate < 1),
    max_assignments_per_worker INT NOT NULL CHECK (max_assignments_per_worker > 0),
    -- An assignment not finished within this time is abandoned: its trials go
    -- back to the pool.
    assignment_ttl             INTERVAL NOT NULL CHECK (assignment_ttl > INTERVAL '0'),
    completion_redirect_url    TEXT,
    created_at                 TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX experiments_owner_id ON experiments (owner_id);

CREATE TABLE reference_images (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    experiment_id BIGINT NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    file_name     TEXT NOT NULL,
    -- Re-encoded as PNG whatever the upload was, so every crop is lossless.
    png           BYTEA NOT NULL,
    width         INT NOT NULL CHECK (width > 0),
    height        INT NOT NULL CHECK (height > 0),
    UNIQUE (experiment_id, file_name),
    -- Target of triplets' composite key, which keeps a triplet in the
    -- experiment of its reference image.
    UNIQUE (id, experiment_id)
);

CREATE TABLE triplets (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    experiment_id      BIGINT NOT NULL,
    reference_image_id BIGINT NOT NULL,
    crop_x             INT NOT NULL CHECK (crop_x >= 0),
    crop_y             INT NOT NULL CHECK (crop_y >= 0),
    -- The PNGs are cached renderings: (reference image, crop, pipeline, seed)
    -- regenerate them byte for byte, but serving them must not cost a
    -- distortion run per request.
    ref_png            BYTEA NOT NULL,
    p0_png             BYTEA NOT NULL,
    p1_png             BYTEA NOT NULL,
    p0_pipeline        JSONB NOT NULL,
    p0_seed            BIGINT NOT NULL,
    p1_pipeline        JSONB NOT NULL,
    p1_seed            BIGINT NOT NULL,
    -- A sentinel has one side identical to the reference (an empty pipeline),
    -- so its right answer is known: 0 = p0, 1 = p1. NULL for real triplets.
    sentinel_answer    SMALLINT CHECK (sentinel_answer IN (0, 1)),
    FOREIGN KEY (reference_image_id, experiment_id)
        REFERENCES reference_images (id, experiment_id) ON DELETE CASCADE
);

CREATE INDEX triplets_experiment_id ON triplets (experiment_id);
CREATE INDEX triplets_reference_image_id ON triplets (reference_image_id);

-- Workers have no accounts: they are who their crowd platform says they are,
-- per experiment (the per-worker limits are per experiment).
CREATE TABLE workers (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    experiment_id BIGINT NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    platform      TEXT NOT NULL CHECK (platform IN ('prolific', 'mturk', 'anonymous')),
    external_id   TEXT NOT NULL CHECK (external_id <> ''),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (experiment_id, platform, external_id),
    UNIQUE (id, experiment_id)
);

CREATE TABLE assignments (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    experiment_id   BIGINT NOT NULL,
    worker_id       BIGINT NOT NULL,
    -- The only credential a worker holds: random, unguessable, URL-safe.
    token           TEXT NOT NULL UNIQUE CHECK (length(token) >= 22),
    -- The platform's study and session (Prolific STUDY_ID/SESSION_ID, MTurk
    -- HIT/assignment ids) belong to one visit, not to the worker.
    study_id        TEXT,
    session_id      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at      TIMESTAMPTZ NOT NULL,
    completed_at    TIMESTAMPTZ,
    completion_code TEXT,
    CHECK ((completed_at IS NULL) = (completion_code IS NULL)),
    FOREIGN KEY (worker_id, experiment_id)
        REFERENCES workers (id, experiment_id) ON DELETE CASCADE
);

CREATE INDEX assignments_experiment_id ON assignments (experiment_id);
CREATE INDEX assignments_worker_id ON assignments (worker_id);

CREATE TABLE assignment_trials (
    assignment_id BIGINT NOT NULL REFERENCES assignments (id) ON DELETE CASCADE,
    position      INT NOT NULL CHECK (position >= 0),
    triplet_id    BIGINT NOT NULL REFERENCES triplets (id) ON DELETE CASCADE,
    -- Which distorted patch is shown on the left, drawn per trial so that
    -- screen side cannot bias the p0/p1 answers.
    left_is_p0    BOOLEAN NOT NULL,
    PRIMARY KEY (assignment_id, position),
    UNIQUE (assignment_id, triplet_id)
);

-- Counting how many judgments each triplet has or is waiting for.
CREATE INDEX assignment_trials_triplet_id ON assignment_trials (triplet_id);

-- A judgment answers one trial; the worker, triplet and experiment follow from
-- it. Its id is generated by the client, so a retried submission finds the
-- row it already made instead of adding a second one.
CREATE TABLE judgments (
    id            UUID PRIMARY KEY,
    assignment_id BIGINT NOT NULL,
    position      INT NOT NULL,
    -- What was pressed, and what it means: the answer in p0/p1 terms is what
    -- analysis reads, the screen side is kept as the raw record.
    chosen_side   TEXT NOT NULL CHECK (chosen_side IN ('left', 'right')),
    chose_p1      BOOLEAN NOT NULL,
    -- From the moment all three images were on screen.
    response_ms   INT NOT NULL CHECK (response_ms >= 0),
    client_time   TIMESTAMPTZ NOT NULL,
    server_time   TIMESTAMPTZ NOT NULL DEFAULT now(),
    user_agent    TEXT,
    UNIQUE (assignment_id, position),
    FOREIGN KEY (assignment_id, position)
        REFERENCES assignment_trials (assignment_id, position) ON DELETE CASCADE
);

-- How many judgments each triplet has or is waiting for: its judgments plus
-- its trials still open in unexpired assignments. Abandoned assignments stop
-- counting the moment they expire, with no job to clean them up, so their
-- trials go back to the pool by themselves.
CREATE VIEW triplet_loads AS
SELECT t.id AS triplet_id,
       t.experiment_id,
       t.sentinel_answer IS NOT NULL AS is_sentinel,
       count(at.triplet_id) FILTER (
           WHERE j.id IS NOT NULL OR (a.completed_at IS NULL AND a.expires_at > now())
       ) AS load
FROM triplets t
LEFT JOIN assignment_trials at ON at.triplet_id = t.id
LEFT JOIN assignments a ON a.id = at.assignment_id
LEFT JOIN judgments j ON j.assignment_id = at.assignment_id AND j.position = at.position
GROUP BY t.id, t.experiment_id, t.sentinel_answer;
