-- Per unit-window aggregates. `contributions` counts the events applied to the window, so it
-- grows with each event and the same set of events always gives the same row: it is the
-- ReplacingMergeTree version, and a replay or a late event can only replace a row by a fuller one.
CREATE TABLE IF NOT EXISTS {db}.unit_windows
(
    org_id LowCardinality(String),
    unit_id LowCardinality(String),
    window_kind LowCardinality(String),
    window_start DateTime('UTC'),
    window_end DateTime('UTC'),
    fft_counts Array(UInt32),
    fft_responses UInt32,
    fft_positive UInt32,
    fft_negative UInt32,
    positive_share Nullable(Float64),
    negative_share Nullable(Float64),
    incidents_by_harm Array(UInt32),
    incidents_by_category Array(UInt32),
    incidents UInt32,
    harmful_incidents UInt32,
    harm_weighted UInt32,
    activity Nullable(Float64),
    harm_weighted_rate Nullable(Float64),
    targets_met Nullable(UInt8),
    target_metrics Array(LowCardinality(String)),
    target_attainment Array(Float64),
    target_values Array(Float64),
    target_numerators Array(Float64),
    target_denominators Array(Float64),
    contributions UInt64
)
ENGINE = ReplacingMergeTree(contributions)
PARTITION BY toYear(window_start)
ORDER BY (org_id, unit_id, window_kind, window_start)
SETTINGS non_replicated_deduplication_window = 10000;

-- The latest version of every alert (ReplacingMergeTree on detected_at: read with FINAL).
CREATE TABLE IF NOT EXISTS {db}.alerts
(
    alert_id String,
    kind LowCardinality(String),
    org_id LowCardinality(String),
    unit_id LowCardinality(String),
    window_start DateTime64(6, 'UTC'),
    window_end DateTime64(6, 'UTC'),
    severity LowCardinality(String),
    status LowCardinality(String),
    summary String,
    evidence String,
    detected_at DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(detected_at)
ORDER BY alert_id
SETTINGS non_replicated_deduplication_window = 10000;

-- Every version of every alert, for the learning loop (when first raised, how it changed).
CREATE TABLE IF NOT EXISTS {db}.alert_history
(
    alert_id String,
    kind LowCardinality(String),
    org_id LowCardinality(String),
    unit_id LowCardinality(String),
    window_start DateTime64(6, 'UTC'),
    window_end DateTime64(6, 'UTC'),
    severity LowCardinality(String),
    status LowCardinality(String),
    summary String,
    evidence String,
    detected_at DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (alert_id, detected_at)
SETTINGS non_replicated_deduplication_window = 10000;
