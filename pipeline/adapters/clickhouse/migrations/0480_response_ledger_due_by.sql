-- The learning loop's ledger keeps each response's due date (nineteenth session): an alert's
-- `evidence.due_by` is its latest answer's, decided in the core from the ledger, so a restore
-- must read it back. Responses stored before this migration get theirs from alert_responses
-- as a second row each (the reader takes the row with a date; a merge keeps the later one).
ALTER TABLE {db}.response_ledger ADD COLUMN IF NOT EXISTS due_by Nullable(DateTime64(6, 'UTC'));

INSERT INTO {db}.response_ledger (org_id, alert_id, event_id, unit_id, response, occurred_at, due_by)
SELECT DISTINCT org_id, alert_id, event_id, unit_id, response, occurred_at, due_by
FROM {db}.alert_responses
WHERE due_by IS NOT NULL;
