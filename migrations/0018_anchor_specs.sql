-- A method comparison's anchors (traditional pipelines entered as methods)
-- were recorded only in their outputs' file_name, as
-- 'anchor: <pipeline JSON> seed <seed>'. They get a column of their own on
-- the experiment, one entry per anchor ({"<method>": {"pipeline": […],
-- "seed": 0}}), which an export's manifest carries and an import restores
-- (imported experiments have no method outputs); an anchor's output has no
-- file, so its file_name is NULL.
ALTER TABLE experiments ADD COLUMN anchors JSONB
    CHECK (anchors IS NULL OR jsonb_typeof(anchors) = 'object');

ALTER TABLE method_outputs ALTER COLUMN file_name DROP NOT NULL;

-- Existing rows: read the old encoding back.
UPDATE experiments e SET anchors = recorded.anchors
FROM (
    SELECT r.experiment_id,
           jsonb_object_agg(o.method, jsonb_build_object(
               'pipeline', substring(o.file_name FROM '^anchor: (.*) seed -?[0-9]+$')::jsonb,
               'seed', substring(o.file_name FROM ' seed (-?[0-9]+)$')::bigint)) AS anchors
    FROM method_outputs o JOIN reference_images r ON r.id = o.reference_image_id
    WHERE o.file_name ~ '^anchor: .* seed -?[0-9]+$'
    GROUP BY r.experiment_id
) recorded
WHERE e.id = recorded.experiment_id;

UPDATE method_outputs SET file_name = NULL WHERE file_name ~ '^anchor: .* seed -?[0-9]+$';
