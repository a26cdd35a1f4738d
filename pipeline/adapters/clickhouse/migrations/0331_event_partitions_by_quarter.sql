-- The raw event tables partitioned by quarter of event time, not by month (issue 11): every
-- part is opened when ClickHouse attaches a table (about 1 ms of CPU each, on every start-up of
-- the embedded engine), and monthly partitions keep at least one part per month of history
-- (docs/worker.md, "Start-up on settled history"). Retention is unchanged in length (0004: 400
-- days from ingestion, whole parts dropped), but a part now gathers up to a quarter's rows, so
-- a row may outlive its 400 days by up to a quarter instead of a month.
--
-- A partition key cannot be altered, so each table is rebuilt as 0021 did: a copy with the
-- same columns, codecs, defaults and skip index (CREATE ... AS), filled with every row, swapped
-- in atomically, the old one dropped. Each step can run again after a crash between steps: a
-- leftover copy is dropped first. The copy is not deduplicated by block and may span any number
-- of partitions. The old table is dropped SYNC: an Atomic database otherwise keeps a dropped
-- table's data for 8 minutes, which a short-lived process (replay, report, the embedded engine)
-- never outlives, so a rebuilt store would hold the whole old copy on disk.
DROP TABLE IF EXISTS {db}.patient_feedback_by_quarter;

CREATE TABLE {db}.patient_feedback_by_quarter AS {db}.patient_feedback
ENGINE = ReplacingMergeTree
PARTITION BY toStartOfQuarter(occurred_at)
ORDER BY (org_id, unit_id, event_id)
TTL toDateTime(ingested_at) + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

INSERT INTO {db}.patient_feedback_by_quarter
SETTINGS insert_deduplicate = 0, max_partitions_per_insert_block = 0
SELECT * FROM {db}.patient_feedback;

EXCHANGE TABLES {db}.patient_feedback AND {db}.patient_feedback_by_quarter;

DROP TABLE {db}.patient_feedback_by_quarter SYNC;

DROP TABLE IF EXISTS {db}.incident_reports_by_quarter;

CREATE TABLE {db}.incident_reports_by_quarter AS {db}.incident_reports
ENGINE = ReplacingMergeTree
PARTITION BY toStartOfQuarter(occurred_at)
ORDER BY (org_id, unit_id, event_id)
TTL toDateTime(ingested_at) + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

INSERT INTO {db}.incident_reports_by_quarter
SETTINGS insert_deduplicate = 0, max_partitions_per_insert_block = 0
SELECT * FROM {db}.incident_reports;

EXCHANGE TABLES {db}.incident_reports AND {db}.incident_reports_by_quarter;

DROP TABLE {db}.incident_reports_by_quarter SYNC;

DROP TABLE IF EXISTS {db}.target_metrics_by_quarter;

CREATE TABLE {db}.target_metrics_by_quarter AS {db}.target_metrics
ENGINE = ReplacingMergeTree
PARTITION BY toStartOfQuarter(occurred_at)
ORDER BY (org_id, unit_id, event_id)
TTL toDateTime(ingested_at) + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

INSERT INTO {db}.target_metrics_by_quarter
SETTINGS insert_deduplicate = 0, max_partitions_per_insert_block = 0
SELECT * FROM {db}.target_metrics;

EXCHANGE TABLES {db}.target_metrics AND {db}.target_metrics_by_quarter;

DROP TABLE {db}.target_metrics_by_quarter SYNC;
