-- Scoring: each metric's distances for each triplet, computed by jobs that any
-- `percept worker` process (on any machine) can take.
--
-- A worker claims a job by locking its row (FOR UPDATE SKIP LOCKED) in a
-- transaction it keeps open while it works: if the worker dies, PostgreSQL
-- drops the connection and the lock with it, and the next worker carries on.
-- Distances are committed batch by batch on other connections, so finished
-- work survives, and a job only scores what has no distance yet.

CREATE TABLE scoring_jobs (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    experiment_id BIGINT NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    -- A metric name as `percept score --metric` takes it (lpips-alex, ssim-lab, …).
    metric        TEXT NOT NULL CHECK (metric <> ''),
    state         TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    error         TEXT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at   TIMESTAMPTZ,
    CHECK ((state = 'failed') = (error IS NOT NULL)),
    CHECK ((state = 'pending') = (finished_at IS NULL))
);

-- At most one pending job per experiment and metric: asking again joins it.
CREATE UNIQUE INDEX scoring_jobs_one_pending
    ON scoring_jobs (experiment_id, metric) WHERE state = 'pending';

CREATE TABLE triplet_distances (
    triplet_id BIGINT NOT NULL REFERENCES triplets (id) ON DELETE CASCADE,
    metric     TEXT NOT NULL,
    -- The metric's distance from the reference to p0 and to p1, oriented so
    -- that smaller means closer (PSNR is stored negated).
    d0         DOUBLE PRECISION NOT NULL,
    d1         DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (triplet_id, metric)
);
