-- Stimulus PNGs are already deflated: PostgreSQL's TOAST compression (pglz)
-- never shrinks them, yet tried on every one, it took half of the time of
-- storing them. EXTERNAL keeps them out of line, uncompressed. (Only rows
-- written from now on are affected; older ones read the same.)
ALTER TABLE triplets
    ALTER COLUMN ref_png SET STORAGE EXTERNAL,
    ALTER COLUMN p0_png SET STORAGE EXTERNAL,
    ALTER COLUMN p1_png SET STORAGE EXTERNAL;
ALTER TABLE pairs
    ALTER COLUMN ref_png SET STORAGE EXTERNAL,
    ALTER COLUMN distorted_png SET STORAGE EXTERNAL;
