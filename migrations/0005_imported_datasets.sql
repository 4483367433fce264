-- Triplets imported from a BAPPS-style tree (the original BAPPS download, or
-- an export): they come as finished patches with an aggregated judgment, not
-- as crops of a reference image with the pipelines that made them.

-- An imported triplet's reference image is its reference patch (crop 0, 0),
-- and it names the item it came from. Its distortions are unknown (NULL)
-- unless the tree is a Percept export, whose manifest gives them.
ALTER TABLE triplets
    ALTER COLUMN p0_pipeline DROP NOT NULL,
    ALTER COLUMN p0_seed DROP NOT NULL,
    ALTER COLUMN p1_pipeline DROP NOT NULL,
    ALTER COLUMN p1_seed DROP NOT NULL,
    ADD COLUMN imported_item TEXT CHECK (imported_item <> ''),
    -- Generated triplets always know how they were made.
    ADD CHECK (
        imported_item IS NOT NULL
        OR (p0_pipeline IS NOT NULL AND p0_seed IS NOT NULL
            AND p1_pipeline IS NOT NULL AND p1_seed IS NOT NULL)
    ),
    ADD CHECK ((p0_pipeline IS NULL) = (p0_seed IS NULL)),
    ADD CHECK ((p1_pipeline IS NULL) = (p1_seed IS NULL));

-- The judgments a triplet came with: BAPPS keeps only the share that
-- preferred p1; how many people that share is of is the dataset's (BAPPS:
-- 2 per train triplet, 5 per val triplet).
CREATE TABLE imported_judgments (
    triplet_id BIGINT PRIMARY KEY REFERENCES triplets (id) ON DELETE CASCADE,
    judgments  INT NOT NULL CHECK (judgments > 0),
    p1_share   DOUBLE PRECISION NOT NULL CHECK (p1_share >= 0 AND p1_share <= 1)
);
