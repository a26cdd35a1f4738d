-- The alert delivery outbox of the Kafka worker: which alert versions (rows of alert_history,
-- identified by alert_id and detected_at) each route (`kafka`, `alertmanager`) has taken.
-- The worker stores a batch's alerts with its events, routes them, then records them here. A
-- version in alert_history with no row here for a route was stored but not routed (the worker
-- stopped in between): the worker routes it on start-up, so no alert is lost, and because the
-- restored engine raises only changed versions, none is raised twice.
CREATE TABLE IF NOT EXISTS {db}.alert_deliveries
(
    route LowCardinality(String),
    alert_id String,
    detected_at DateTime64(6, 'UTC'),
    delivered_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (route, alert_id, detected_at)
SETTINGS non_replicated_deduplication_window = 10000;
