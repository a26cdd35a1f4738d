-- The engine's state in small form (issue 11): each unit window's target reports in force and
-- the ids of the events the latest batch applied to it, as JSON beside its figures. The worker
-- and the embedded runner restore from these rows (and the ids of events whose windows are
-- still open) instead of re-reading every stored payload. Rows written before this migration
-- have an empty state; while any is the latest of its window, restore re-reads payloads.
ALTER TABLE {db}.unit_windows ADD COLUMN IF NOT EXISTS state String;
