-- Experiments can be shared with other researchers, and failed sign-ins are
-- remembered so that guessing passwords gets slower with every miss.

-- A researcher an experiment is shared with sees and analyses it as its owner
-- does; only the owner shares it further or takes a share back.
CREATE TABLE experiment_shares (
    experiment_id BIGINT NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    researcher_id BIGINT NOT NULL REFERENCES researchers (id) ON DELETE CASCADE,
    shared_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (experiment_id, researcher_id)
);

CREATE INDEX experiment_shares_researcher_id ON experiment_shares (researcher_id);

-- Consecutive failed sign-ins per email (known or not, so the table does not
-- tell which emails have accounts). Kept in the database rather than in one
-- server's memory so that every server behind a load balancer sees them. An
-- attempt counts as failed from the moment it starts until it succeeds (which
-- deletes the row), so parallel guesses cannot slip past the wait.
CREATE TABLE sign_in_failures (
    email           TEXT PRIMARY KEY,
    failures        INT NOT NULL CHECK (failures > 0),
    last_attempt_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX sign_in_failures_last_attempt_at ON sign_in_failures (last_attempt_at);

-- Who may see an experiment, in one place: its owner and those it is shared with.
CREATE VIEW experiment_access AS
    SELECT id AS experiment_id, owner_id AS researcher_id, TRUE AS is_owner FROM experiments
    UNION ALL
    SELECT experiment_id, researcher_id, FALSE AS is_owner FROM experiment_shares;
