-- Researchers sign in to the dashboard; stimulus generation reports its
-- progress; and each experiment says when a worker's sentinel failures make
-- their judgments untrustworthy.

-- A signed-in browser holds a random 256-bit token in an HttpOnly cookie; only
-- its SHA-256 is stored, so a leaked table signs nobody in.
CREATE TABLE researcher_sessions (
    token_sha256  BYTEA PRIMARY KEY CHECK (length(token_sha256) = 32),
    researcher_id BIGINT NOT NULL REFERENCES researchers (id) ON DELETE CASCADE,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at    TIMESTAMPTZ NOT NULL
);

CREATE INDEX researcher_sessions_researcher_id ON researcher_sessions (researcher_id);

-- Triplets are generated image by image after the experiment is stored, so any
-- server can show how far generation got. Workers are only given assignments
-- once it is 'ready'. Experiments made before this migration were generated
-- whole, in one transaction: they are ready.
ALTER TABLE experiments
    ADD COLUMN status TEXT NOT NULL DEFAULT 'ready'
        CHECK (status IN ('generating', 'ready', 'failed')),
    ADD COLUMN generation_error TEXT,
    ADD COLUMN triplets_total INT NOT NULL DEFAULT 0 CHECK (triplets_total >= 0),
    ADD COLUMN triplets_generated INT NOT NULL DEFAULT 0 CHECK (triplets_generated >= 0),
    -- A worker who judged at least one sentinel and failed more than this
    -- share of them is flagged: their judgments stay stored but are left out
    -- of reports and exports by default.
    ADD COLUMN max_sentinel_failure_share REAL NOT NULL DEFAULT 0.5
        CHECK (max_sentinel_failure_share >= 0 AND max_sentinel_failure_share <= 1),
    ADD CHECK ((status = 'failed') = (generation_error IS NOT NULL));

UPDATE experiments e
SET triplets_total = counted.n, triplets_generated = counted.n
FROM (SELECT experiment_id, count(*)::int AS n FROM triplets GROUP BY experiment_id) counted
WHERE counted.experiment_id = e.id;
