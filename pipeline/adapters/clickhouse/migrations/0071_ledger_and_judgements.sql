-- The rest of the engine's state in small form (issue 11), so a restore reads no payloads:
-- the learning loop's ledger (each alert response, without its note) and the incident
-- revisions that came into force (the highest revision of a report wins; the restore offers
-- every row, in any order), both written by the step with the batch that added them, before
-- its events. No personal data: no TTL (a revision must outlive the events to be retracted).
-- Storage written before this migration is copied in from the event tables below, once.
CREATE TABLE IF NOT EXISTS {db}.response_ledger
(
    org_id LowCardinality(String),
    alert_id String,
    event_id UUID,
    unit_id LowCardinality(String),
    response LowCardinality(String),
    occurred_at DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (org_id, alert_id, event_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {db}.incident_revisions
(
    org_id LowCardinality(String),
    report_ref String,
    event_id UUID,
    revision UInt32,
    unit_id LowCardinality(String),
    occurred_at DateTime64(6, 'UTC'),
    harm LowCardinality(String),
    category LowCardinality(String)
)
ENGINE = ReplacingMergeTree
ORDER BY (org_id, report_ref, event_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- What each organisation's stored alerts were judged on (pipeline/core/judgements.py): the
-- watermark its closed windows ended by and a digest of those windows and its responses,
-- written after the alerts. A restore judges again only the organisations whose digest does
-- not match what it restored. The latest judgement wins.
CREATE TABLE IF NOT EXISTS {db}.judgements
(
    org_id LowCardinality(String),
    window_kind LowCardinality(String),
    mark Nullable(DateTime64(6, 'UTC')),
    digest String,
    judged_at DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(judged_at)
ORDER BY (org_id, window_kind)
SETTINGS non_replicated_deduplication_window = 10000;

-- The latest event time of each organisation (the watermark's source), written after each
-- batch's events: a restore reads one row per organisation instead of max(occurred_at) over
-- every stored event. The latest wins.
CREATE TABLE IF NOT EXISTS {db}.org_progress
(
    org_id LowCardinality(String),
    latest_event DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(latest_event)
ORDER BY org_id
SETTINGS non_replicated_deduplication_window = 10000;

INSERT INTO {db}.org_progress (org_id, latest_event)
SELECT org_id, max(occurred_at)
FROM
(
    SELECT org_id, occurred_at FROM {db}.incident_reports
    UNION ALL SELECT org_id, occurred_at FROM {db}.target_metrics
    UNION ALL SELECT org_id, occurred_at FROM {db}.patient_feedback
    UNION ALL SELECT org_id, occurred_at FROM {db}.alert_responses
)
GROUP BY org_id;

INSERT INTO {db}.response_ledger (org_id, alert_id, event_id, unit_id, response, occurred_at)
SELECT DISTINCT org_id, alert_id, event_id, unit_id, response, occurred_at
FROM {db}.alert_responses;

INSERT INTO {db}.incident_revisions
    (org_id, report_ref, event_id, revision, unit_id, occurred_at, harm, category)
SELECT DISTINCT org_id, report_ref, event_id, revision, unit_id, occurred_at, harm, category
FROM {db}.incident_reports
WHERE report_ref != '';
