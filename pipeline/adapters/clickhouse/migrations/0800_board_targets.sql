-- Every target metric a unit reports, judged (pipeline.core.board_targets): one row per unit
-- and metric, the chart of its returns in force (the main one's row is the board's target row
-- in mdc_summary, stored here too), or a `withdrawn` row for a metric without a current
-- reading; the report's and Grafana's target charts read it. `version` as in mdc_summary, so
-- the latest judgement wins whatever order the data came in. No personal data: no TTL.
CREATE TABLE IF NOT EXISTS {db}.mdc_targets
(
    org_id LowCardinality(String),
    unit_id LowCardinality(String),
    window_kind LowCardinality(String),
    metric LowCardinality(String),
    window_start DateTime64(6, 'UTC'),
    window_end DateTime64(6, 'UTC'),
    value Float64,
    sample_size Float64,
    mean Float64,
    lpl Nullable(Float64),
    upl Nullable(Float64),
    improvement LowCardinality(String),
    variation LowCardinality(String),
    assurance LowCardinality(Nullable(String)),
    target Nullable(Float64),
    points UInt32,
    version UInt64,
    point_starts Array(DateTime64(6, 'UTC')),
    point_ends Array(DateTime64(6, 'UTC')),
    point_values Array(Float64),
    point_sizes Array(Float64),
    point_types Array(LowCardinality(String))
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (org_id, unit_id, window_kind, metric)
SETTINGS non_replicated_deduplication_window = 10000;
