-- Each organisation's progress row also records the input partition (Kafka topic and
-- partition) its latest event arrived on (twentieth session): after a rebalance the worker given
-- that partition restores the organisation at once, so its open alerts are posted to
-- Alertmanager again without waiting for its next event (docs/worker.md, "Per organisation").
-- A row with no partition ('' and -1: written before, or by a replay of files) leaves the
-- organisation to be restored when its first event arrives.
ALTER TABLE {db}.org_progress ADD COLUMN IF NOT EXISTS input_topic LowCardinality(String) DEFAULT '';

ALTER TABLE {db}.org_progress ADD COLUMN IF NOT EXISTS input_partition Int32 DEFAULT -1;

-- From the stored events' own origins (`topic/partition@offset`): each organisation's row again,
-- with the partition of its latest stored event. At an equal latest event time the reader
-- prefers the row with a partition (and a merge keeps this later one).
INSERT INTO {db}.org_progress (org_id, latest_event, input_topic, input_partition)
SELECT org_id, latest, topic, if(topic = '', -1, toInt32OrZero(partition))
FROM
(
    SELECT
        org_id,
        max(occurred_at) AS latest,
        argMax(origin, occurred_at) AS last_origin,
        extract(last_origin, '^([A-Za-z0-9._-]+)/[0-9]+@[0-9]+$') AS topic,
        extract(last_origin, '^[A-Za-z0-9._-]+/([0-9]+)@[0-9]+$') AS partition
    FROM
    (
        SELECT org_id, occurred_at, origin FROM {db}.incident_reports
        UNION ALL SELECT org_id, occurred_at, origin FROM {db}.target_metrics
        UNION ALL SELECT org_id, occurred_at, origin FROM {db}.patient_feedback
        UNION ALL SELECT org_id, occurred_at, origin FROM {db}.alert_responses
    )
    GROUP BY org_id
)
WHERE topic != '';
