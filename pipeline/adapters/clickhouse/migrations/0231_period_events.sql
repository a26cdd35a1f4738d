-- Counts-form feedback by the end of its period (issue 11). A restore must hold the ids of
-- stored events whose windows are still open: for feedback, those that occurred from its
-- horizon on (the event table's monthly partitions find them) and the counts-form batches
-- that occurred before it but whose period ends after it. Finding the latter in
-- `patient_feedback` read `period_end` in every part of the table (cold, at each start-up);
-- this table holds only those batches (ids and times, nothing personal: no TTL), ordered by
-- `period_end`, so a restore reads a few granules. The step writes a batch's rows here before
-- its events (as the windows and the ledger); a row whose event a crash kept from being
-- stored is one of its windows' pending ids, which the restore leaves out.
CREATE TABLE IF NOT EXISTS {db}.period_events
(
    org_id LowCardinality(String),
    unit_id LowCardinality(String),
    event_id UUID,
    occurred_at DateTime64(6, 'UTC'),
    period_end DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (period_end, org_id, event_id)
SETTINGS non_replicated_deduplication_window = 10000;

INSERT INTO {db}.period_events (org_id, unit_id, event_id, occurred_at, period_end)
SELECT DISTINCT org_id, unit_id, event_id, occurred_at, assumeNotNull(period_end)
FROM {db}.patient_feedback
WHERE period_end IS NOT NULL;
