-- JND experiments: pairs of a reference patch and a distorted version, shown
-- one after the other ("same or different?"), with the presentation timing
-- the browser measured stored beside each answer.
--
-- Assignments and workers are shared with 2AFC: an assignment of a JND
-- experiment holds jnd_trials instead of assignment_trials.

-- The presentation sequence (reference, blank, distorted; milliseconds),
-- the share of control pairs (the reference twice), and the 2AFC experiment
-- whose triplets a JND experiment's pairs were taken from, if any. For JND
-- experiments `judgments_per_triplet` is the judgments wanted per pair, and
-- `triplets_total`/`triplets_generated` count pairs.
ALTER TABLE experiments
    ADD COLUMN reference_ms INT NOT NULL DEFAULT 1000 CHECK (reference_ms > 0),
    ADD COLUMN gap_ms INT NOT NULL DEFAULT 250 CHECK (gap_ms >= 0),
    ADD COLUMN distorted_ms INT NOT NULL DEFAULT 1000 CHECK (distorted_ms > 0),
    ADD COLUMN control_share REAL NOT NULL DEFAULT 0
        CHECK (control_share >= 0 AND control_share < 1),
    ADD COLUMN source_experiment_id BIGINT REFERENCES experiments (id) ON DELETE SET NULL,
    ADD CHECK (source_experiment_id IS NULL OR kind = 'jnd');

-- One row per pair, with both patches as PNG, so scoring reads one row. A
-- pair is either cut fresh from one of its experiment's reference images, or
-- taken from a triplet of the source experiment (its reference and one of its
-- distorted patches). A control shows the reference twice: empty pipeline.
CREATE TABLE pairs (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    experiment_id      BIGINT NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    reference_image_id BIGINT,
    -- The source triplet's PNGs are copied, so the pair outlives it.
    source_triplet_id  BIGINT REFERENCES triplets (id) ON DELETE SET NULL,
    crop_x             INT NOT NULL CHECK (crop_x >= 0),
    crop_y             INT NOT NULL CHECK (crop_y >= 0),
    ref_png            BYTEA NOT NULL,
    distorted_png      BYTEA NOT NULL,
    -- NULL only for pairs from imported triplets, whose distortions are unknown.
    pipeline           JSONB,
    seed               BIGINT,
    is_control         BOOLEAN NOT NULL,
    CHECK ((pipeline IS NULL) = (seed IS NULL)),
    CHECK (NOT is_control OR pipeline = '[]'::jsonb),
    CHECK (pipeline IS NOT NULL OR source_triplet_id IS NOT NULL),
    FOREIGN KEY (reference_image_id, experiment_id)
        REFERENCES reference_images (id, experiment_id) ON DELETE CASCADE
);

CREATE INDEX pairs_experiment_id ON pairs (experiment_id);

-- A JND trial shows one pair. An invalid trial (timing off, page hidden) is
-- answered, but its pair is served again at the end of the same assignment:
-- `retry_of` is the position of the trial it repeats.
CREATE TABLE jnd_trials (
    assignment_id BIGINT NOT NULL REFERENCES assignments (id) ON DELETE CASCADE,
    position      INT NOT NULL CHECK (position >= 0),
    pair_id       BIGINT NOT NULL REFERENCES pairs (id) ON DELETE CASCADE,
    retry_of      INT,
    PRIMARY KEY (assignment_id, position),
    UNIQUE (assignment_id, retry_of),
    FOREIGN KEY (assignment_id, retry_of) REFERENCES jnd_trials (assignment_id, position),
    CHECK (retry_of < position)
);

CREATE INDEX jnd_trials_pair_id ON jnd_trials (pair_id);

-- A JND judgment, with the id its client made (retries find their row). The
-- *_at_ms are the page's requestAnimationFrame timestamps (performance.now()
-- clock) of the frames in which each image was put on and taken off the
-- screen; the measured durations follow from them. The server decides
-- validity from the durations, the refresh interval and the page's
-- visibility/focus record: `invalid_reason` says why a trial does not count.
CREATE TABLE jnd_judgments (
    id                     UUID PRIMARY KEY,
    assignment_id          BIGINT NOT NULL,
    position               INT NOT NULL,
    said_same              BOOLEAN NOT NULL,
    -- From the end of the distorted patch's exposure (the question's onset).
    response_ms            INT NOT NULL CHECK (response_ms >= 0),
    client_time            TIMESTAMPTZ NOT NULL,
    server_time            TIMESTAMPTZ NOT NULL DEFAULT now(),
    user_agent             TEXT,
    refresh_interval_ms    DOUBLE PRECISION NOT NULL CHECK (refresh_interval_ms > 0),
    reference_on_at_ms     DOUBLE PRECISION NOT NULL,
    reference_off_at_ms    DOUBLE PRECISION NOT NULL,
    distorted_on_at_ms     DOUBLE PRECISION NOT NULL,
    distorted_off_at_ms    DOUBLE PRECISION NOT NULL,
    CHECK (reference_on_at_ms <= reference_off_at_ms
           AND reference_off_at_ms <= distorted_on_at_ms
           AND distorted_on_at_ms <= distorted_off_at_ms),
    reference_exposure_ms  DOUBLE PRECISION
        GENERATED ALWAYS AS (reference_off_at_ms - reference_on_at_ms) STORED,
    measured_gap_ms        DOUBLE PRECISION
        GENERATED ALWAYS AS (distorted_on_at_ms - reference_off_at_ms) STORED,
    distorted_exposure_ms  DOUBLE PRECISION
        GENERATED ALWAYS AS (distorted_off_at_ms - distorted_on_at_ms) STORED,
    lost_visibility        BOOLEAN NOT NULL,
    lost_focus             BOOLEAN NOT NULL,
    invalid_reason         TEXT CHECK (invalid_reason <> ''),
    valid                  BOOLEAN GENERATED ALWAYS AS (invalid_reason IS NULL) STORED,
    UNIQUE (assignment_id, position),
    FOREIGN KEY (assignment_id, position)
        REFERENCES jnd_trials (assignment_id, position) ON DELETE CASCADE
);

-- How many judgments each pair has or is waiting for: its valid judgments
-- plus its trials still open in unexpired assignments (as triplet_loads).
-- Invalid judgments do not count, so their pairs go back into the queue.
CREATE VIEW pair_loads AS
SELECT p.id AS pair_id,
       p.experiment_id,
       p.is_control,
       count(jt.pair_id) FILTER (
           WHERE j.valid OR (j.id IS NULL AND a.completed_at IS NULL AND a.expires_at > now())
       ) AS load
FROM pairs p
LEFT JOIN jnd_trials jt ON jt.pair_id = p.id
LEFT JOIN assignments a ON a.id = jt.assignment_id
LEFT JOIN jnd_judgments j ON j.assignment_id = jt.assignment_id AND j.position = jt.position
GROUP BY p.id, p.experiment_id, p.is_control;
