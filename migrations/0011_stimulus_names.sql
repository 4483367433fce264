-- Names that say what they count: an experiment's judgments wanted and its
-- stimuli generated are per triplet in 2AFC and per pair in JND, so they are
-- named for stimuli, not triplets.
ALTER TABLE experiments RENAME COLUMN judgments_per_triplet TO judgments_per_stimulus;
ALTER TABLE experiments RENAME COLUMN triplets_total TO stimuli_total;
ALTER TABLE experiments RENAME COLUMN triplets_generated TO stimuli_generated;
