-- JND pairs imported from a BAPPS-style tree (`jnd/<split>/<category>/`):
-- finished patches with an aggregated "same" share, like imported triplets.

-- An imported pair names the item it came from; its distortion is unknown
-- (NULL) unless the tree is a Percept export, whose manifest gives it.
ALTER TABLE pairs
    ADD COLUMN imported_item TEXT CHECK (imported_item <> ''),
    DROP CONSTRAINT pairs_check2,
    ADD CONSTRAINT pairs_made_somehow
        CHECK (pipeline IS NOT NULL OR source_triplet_id IS NOT NULL OR imported_item IS NOT NULL);

-- The judgments a pair came with: BAPPS keeps only the share that said
-- "same"; how many people that share is of is the dataset's (BAPPS: 3).
CREATE TABLE imported_pair_judgments (
    pair_id    BIGINT PRIMARY KEY REFERENCES pairs (id) ON DELETE CASCADE,
    judgments  INT NOT NULL CHECK (judgments > 0),
    same_share DOUBLE PRECISION NOT NULL CHECK (same_share >= 0 AND same_share <= 1)
);
