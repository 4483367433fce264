-- Scoring JND pairs: each metric's distance between a pair's two patches,
-- written by the same scoring jobs as the triplets' distances.
CREATE TABLE pair_distances (
    pair_id  BIGINT NOT NULL REFERENCES pairs (id) ON DELETE CASCADE,
    metric   TEXT NOT NULL,
    -- Oriented like triplet_distances: smaller means closer (PSNR negated).
    distance DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (pair_id, metric)
);
