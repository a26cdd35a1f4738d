-- The learning loop's ledger keeps each response's owner (twentieth session): an alert's
-- `evidence.owner` is the owner its latest answer naming one named, decided in the core from
-- the ledger, so a restore must read it back. Responses stored before this migration get
-- theirs from alert_responses as second rows each (the reader takes the largest owner of a
-- response's rows, so the named one; a merge keeps the later row).
ALTER TABLE {db}.response_ledger ADD COLUMN IF NOT EXISTS owner String DEFAULT '';

INSERT INTO {db}.response_ledger (org_id, alert_id, event_id, unit_id, response, occurred_at, due_by, owner)
SELECT DISTINCT org_id, alert_id, event_id, unit_id, response, occurred_at, due_by, owner
FROM {db}.alert_responses
WHERE owner != '';
