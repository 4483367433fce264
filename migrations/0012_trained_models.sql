-- Metrics learned from the judgments (`percept train`, `POST
-- /api/experiments/{id}/training`): LPIPS calibrated on 2AFC triplets as the
-- paper's "Training on our data" does. A row is made when the training job
-- is queued and carries everything the job needs, its progress and what it
-- produced, so any `percept serve` or `percept worker` on the database can
-- run it, and any process can score with the result.
--
-- While training, `checkpoint` holds the state after the last finished
-- epoch (weights, optimiser moments; safetensors bytes) and `epochs` the
-- record up to it: a job taken over from a killed process resumes there.
-- When done, `weights` holds NAME.safetensors (official state-dict names)
-- and `weights_sha256` its hash; scoring `lpips-alex:NAME` anywhere writes
-- those bytes to its weights folder if they are not there yet.

CREATE TABLE trained_models (
    id                        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The NAME of `lpips-alex:NAME`: a file stem.
    name                      TEXT NOT NULL UNIQUE
        CHECK (name ~ '^[A-Za-z0-9_-][A-Za-z0-9_.-]*$' AND length(name) <= 100),
    net                       TEXT NOT NULL CHECK (net IN ('alex', 'vgg')),
    mode                      TEXT NOT NULL CHECK (mode IN ('lin', 'tune', 'scratch')),
    -- The training settings (lpips::training::Settings as JSON) and the
    -- data options (validation share, flagged workers).
    options                   JSONB NOT NULL,
    training_experiment_ids   BIGINT[] NOT NULL,
    validation_experiment_ids BIGINT[] NOT NULL DEFAULT '{}',
    created_by                BIGINT REFERENCES researchers (id) ON DELETE SET NULL,
    status                    TEXT NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'training', 'done', 'failed')),
    -- Provenance, filled when the data is read: triplet and judgment counts
    -- per role, the percept version and git commit of the process that
    -- trained, the device.
    provenance                JSONB NOT NULL DEFAULT '{}'::jsonb,
    -- The triplets trained on (reports warn when they score on them).
    training_triplet_ids      BIGINT[] NOT NULL DEFAULT '{}',
    -- Per finished epoch: loss, learning rate, train and validation 2AFC.
    epochs                    JSONB NOT NULL DEFAULT '[]'::jsonb,
    -- The full training record (lpips::training::TrainingRecord) so far.
    record                    JSONB,
    checkpoint                BYTEA,
    weights                   BYTEA,
    weights_sha256            TEXT CHECK (weights_sha256 ~ '^[0-9a-f]{64}$'),
    error                     TEXT,
    created_at                TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at               TIMESTAMPTZ,
    -- A run stopped by a non-finite loss keeps its last good weights too.
    CHECK (status <> 'done' OR (weights IS NOT NULL AND weights_sha256 IS NOT NULL)),
    CHECK ((status = 'failed') = (error IS NOT NULL)),
    CHECK (cardinality(training_experiment_ids) > 0)
);
