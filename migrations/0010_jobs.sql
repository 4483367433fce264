-- One queue for every long task (stimulus generation, scoring, and the kinds
-- to come), worked by every `percept serve` and `percept worker` process.
-- It replaces scoring_jobs, whose jobs it takes over.
--
-- A process claims a queued job by locking its row (FOR UPDATE SKIP LOCKED,
-- so two processes never take the same one) and marking it `running` with
-- its name and a heartbeat, which it renews every few seconds while it
-- works. A job whose heartbeat is older than the lease belongs to a process
-- that died (SIGKILL, a lost machine): the next process to look takes it
-- over. Work is committed piece by piece with the job's progress, and every
-- kind skips what is already done, so a taken-over job carries on where it
-- stopped. `attempts` counts claims: a job that keeps killing its processes
-- fails with the reason once it reaches `max_attempts`.

CREATE TABLE jobs (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- `generation`, `scoring`, …: which code runs it (`percept serve
    -- --job-kinds` chooses the kinds a process takes).
    kind           TEXT NOT NULL CHECK (kind ~ '^[a-z][a-z0-9-]*$'),
    -- The experiment the job works on, if any: its owner and the
    -- researchers it is shared with see the job.
    experiment_id  BIGINT REFERENCES experiments (id) ON DELETE CASCADE,
    -- What the kind needs beyond the experiment (scoring: {"metric": …}).
    payload        JSONB NOT NULL DEFAULT '{}'::jsonb,
    status         TEXT NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'done', 'failed')),
    -- Units of work done and to do (stimuli generated, stimuli scored).
    progress_done  BIGINT NOT NULL DEFAULT 0 CHECK (progress_done >= 0),
    progress_total BIGINT CHECK (progress_total >= 0),
    -- host:pid of the process working on it (or that last did).
    owner_process  TEXT,
    heartbeat_at   TIMESTAMPTZ,
    attempts       INT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts   INT NOT NULL DEFAULT 5 CHECK (max_attempts > 0),
    error          TEXT,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at     TIMESTAMPTZ,
    finished_at    TIMESTAMPTZ,
    CHECK ((status = 'failed') = (error IS NOT NULL)),
    CHECK ((status IN ('done', 'failed')) = (finished_at IS NOT NULL)),
    CHECK (status <> 'running' OR (owner_process IS NOT NULL AND heartbeat_at IS NOT NULL))
);

-- At most one open job per kind, experiment and payload: asking again joins it.
CREATE UNIQUE INDEX jobs_one_open ON jobs (kind, experiment_id, payload) NULLS NOT DISTINCT
    WHERE status IN ('queued', 'running');
-- What a process looks through when it claims.
CREATE INDEX jobs_open ON jobs (id) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_experiment_id ON jobs (experiment_id);

-- Scoring jobs keep their ids (clients may hold them).
INSERT INTO jobs (id, kind, experiment_id, payload, status, error, created_at, finished_at)
OVERRIDING SYSTEM VALUE
SELECT id, 'scoring', experiment_id, jsonb_build_object('metric', metric),
       CASE state WHEN 'pending' THEN 'queued' ELSE state END, error, created_at, finished_at
FROM scoring_jobs
ORDER BY id;
SELECT setval(pg_get_serial_sequence('jobs', 'id'), coalesce(max(id), 0) + 1, false) FROM jobs;
DROP TABLE scoring_jobs;

-- Experiments a stopped process left `generating` are generated now.
INSERT INTO jobs (kind, experiment_id)
SELECT 'generation', id FROM experiments WHERE status = 'generating' ORDER BY id;
