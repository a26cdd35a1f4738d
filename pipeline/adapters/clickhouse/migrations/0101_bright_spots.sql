-- Bright spots (pipeline.core.detection.bright): per unit and measure, its latest episode of
-- being significantly better than its own baseline AND than the rest of its organisation
-- (status 'ongoing' or 'ended'), or 'none'. Places to learn from, never alerts. Computed once
-- by the engine from the closed windows; the report and Grafana read it with FINAL. `version`
-- counts the events behind the organisation's closed windows, so a fuller view replaces an
-- earlier one whatever order the data came in, and a replayed or retried insert changes
-- nothing. No personal data (figures only): no TTL.
CREATE TABLE IF NOT EXISTS {db}.bright_spots
(
    org_id LowCardinality(String),
    unit_id LowCardinality(String),
    window_kind LowCardinality(String),
    measure LowCardinality(String),
    status LowCardinality(String),
    first_window Nullable(DateTime64(6, 'UTC')),
    last_window Nullable(DateTime64(6, 'UTC')),
    detected_in Nullable(DateTime64(6, 'UTC')),
    windows UInt32,
    detector LowCardinality(Nullable(String)),
    value Nullable(Float64),
    baseline Nullable(Float64),
    peers Nullable(Float64),
    reduction_vs_baseline Nullable(Float64),
    reduction_vs_peers Nullable(Float64),
    z_baseline Nullable(Float64),
    z_peers Nullable(Float64),
    sample_size Nullable(Float64),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (org_id, unit_id, window_kind, measure)
SETTINGS non_replicated_deduplication_window = 10000;
