-- Researchers own experiments; workers never have accounts (they arrive with
-- crowd-platform ids or anonymously).
CREATE TABLE researchers (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    -- argon2id PHC string
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
