-- An experiment's life after creation, apart from its generation state
-- (`status`): `open` hands out assignments, `closed` hands out no new ones
-- (assignments already handed out may be finished, unless the researcher cut
-- them off when closing), `archived` is closed and hidden from the dashboard's
-- list. Reopening makes it `open` again.
ALTER TABLE experiments
    ADD COLUMN lifecycle TEXT NOT NULL DEFAULT 'open'
        CHECK (lifecycle IN ('open', 'closed', 'archived'));
