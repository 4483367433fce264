-- Method-comparison experiments: triplets cut from the outputs of real
-- algorithms (super-resolution, deblurring, …) instead of generated
-- distortions. The experiment lists its methods and how many pairs of them
-- each patch gets; every reference image keeps each method's output; and a
-- triplet names the method of p0 and of p1 (NULL on a sentinel's reference
-- side, and in experiments of generated distortions).
ALTER TABLE experiments
    ADD COLUMN methods            TEXT[],
    -- NULL: every pair of methods on every patch.
    ADD COLUMN pairs_per_patch    INT CHECK (pairs_per_patch > 0),
    -- Patches whose reference has a lower gray-level variance are skipped.
    ADD COLUMN min_patch_variance REAL CHECK (min_patch_variance >= 0);

CREATE TABLE method_outputs (
    reference_image_id BIGINT NOT NULL REFERENCES reference_images (id) ON DELETE CASCADE,
    method             TEXT NOT NULL,
    file_name          TEXT NOT NULL,
    -- Re-encoded as PNG, as references are: crops are lossless.
    png                BYTEA NOT NULL,
    PRIMARY KEY (reference_image_id, method)
);

ALTER TABLE triplets
    ADD COLUMN p0_method TEXT,
    ADD COLUMN p1_method TEXT;
