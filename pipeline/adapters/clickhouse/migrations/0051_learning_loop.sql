-- The learning loop (contract v1.1). Incident reports carry the local risk system's reference
-- and revision (the highest revision of one report counts; the engine decides that, the
-- aggregates in unit_windows already reflect it). Alert responses carry an owner and a date
-- the action is due by. Added at the end of each table, with defaults, so rows written before
-- read as revision 1 of no reference, with no owner and no due date.
ALTER TABLE {db}.incident_reports ADD COLUMN IF NOT EXISTS report_ref String DEFAULT '';
ALTER TABLE {db}.incident_reports ADD COLUMN IF NOT EXISTS revision UInt32 DEFAULT 1;
ALTER TABLE {db}.alert_responses ADD COLUMN IF NOT EXISTS owner String DEFAULT '';
ALTER TABLE {db}.alert_responses ADD COLUMN IF NOT EXISTS due_by Nullable(DateTime64(6, 'UTC'));
