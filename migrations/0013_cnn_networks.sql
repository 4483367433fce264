-- The bank of CNN distortions (BAPPS' CNN-based family): trained networks,
-- shared by every `percept serve` and `percept worker` on this database so
-- that they all apply the same ones. A row is written once, when its
-- network is trained (by a `cnn-bank` job), and never changed: the stimuli
-- it made name it and its weights' hash, and applying it again refuses
-- weights that no longer hash to `weights_sha256`.
CREATE TABLE cnn_networks (
    -- `s<bank seed>-<index>`, e.g. `s0-003`.
    id               TEXT PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{1,64}$'),
    bank_seed        BIGINT NOT NULL CHECK (bank_seed >= 0),
    index            INT NOT NULL CHECK (index >= 0),
    -- The network's task, architecture and learning (cnn_distortions::NetworkSpec).
    spec             JSONB NOT NULL,
    -- safetensors bytes, and their lowercase hex SHA-256.
    weights          BYTEA NOT NULL,
    weights_sha256   TEXT NOT NULL CHECK (weights_sha256 ~ '^[0-9a-f]{64}$'),
    training_loss    DOUBLE PRECISION NOT NULL,
    training_seconds DOUBLE PRECISION NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (bank_seed, index)
);
