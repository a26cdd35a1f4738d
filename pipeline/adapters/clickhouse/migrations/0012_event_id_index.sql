-- Exact deduplication beyond the in-memory horizon (issue 11): the step asks ClickHouse whether
-- an event id it no longer remembers (a late event, or an id another worker's organisation
-- used) is stored. The tables are ordered by organisation, so a lookup by event_id alone needs
-- a skip index to avoid reading every granule. Parts written before this migration are
-- indexed as they merge.
ALTER TABLE {db}.incident_reports ADD INDEX IF NOT EXISTS event_id_bloom event_id TYPE bloom_filter(0.01) GRANULARITY 1;
ALTER TABLE {db}.target_metrics ADD INDEX IF NOT EXISTS event_id_bloom event_id TYPE bloom_filter(0.01) GRANULARITY 1;
ALTER TABLE {db}.patient_feedback ADD INDEX IF NOT EXISTS event_id_bloom event_id TYPE bloom_filter(0.01) GRANULARITY 1;
ALTER TABLE {db}.alert_responses ADD INDEX IF NOT EXISTS event_id_bloom event_id TYPE bloom_filter(0.01) GRANULARITY 1;
