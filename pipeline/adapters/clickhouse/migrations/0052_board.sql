-- The board's view (pipeline.core.board): the Making Data Count summary of every unit and
-- measure at its latest closed window, computed once by the engine; the report and Grafana
-- read it. `version` counts the events behind the charted windows, so a fuller view replaces
-- an earlier one whatever order the data came in. No personal data: no TTL.
CREATE TABLE IF NOT EXISTS {db}.mdc_summary
(
    org_id LowCardinality(String),
    unit_id LowCardinality(String),
    window_kind LowCardinality(String),
    measure LowCardinality(String),
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
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (org_id, unit_id, window_kind, measure)
SETTINGS non_replicated_deduplication_window = 10000;

-- FFT themes (the slugs publishers attach to feedback) counted per unit-window, so that an
-- alert can show what patients were talking about while its score fell.
ALTER TABLE {db}.unit_windows ADD COLUMN IF NOT EXISTS theme_names Array(LowCardinality(String));
ALTER TABLE {db}.unit_windows ADD COLUMN IF NOT EXISTS theme_counts Array(UInt32);
