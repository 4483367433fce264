-- Imported stimuli (a BAPPS tree's triplets or pairs) come with their
-- judgments: workers are not given them unless the researcher asks for it.
ALTER TABLE experiments
    ADD COLUMN serve_imported_stimuli BOOLEAN NOT NULL DEFAULT false;
