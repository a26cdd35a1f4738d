-- The pipeline's tables for a ClickHouse cluster: the local (per-shard, replicated) half.
-- The same columns, sorting keys, partitions and retention as pipeline/adapters/clickhouse/migrations/0001-0004
-- (tests/integration/test_deploy_clickhouse.py checks they stay the same); README.md beside this file
-- explains the layout. Run once, as an admin, on any node:
--   clickhouse-client --multiquery < 01_local_tables.sql
-- {cluster}, {shard} and {replica} are server macros (config.d/macros.xml on each node);
-- {database} is filled in by ClickHouse itself.

CREATE DATABASE IF NOT EXISTS quality ON CLUSTER '{cluster}';

CREATE TABLE IF NOT EXISTS quality.incident_reports_local ON CLUSTER '{cluster}'
(
    event_id UUID,
    org_id LowCardinality(String),
    unit_id LowCardinality(String),
    occurred_at DateTime64(6, 'UTC'),
    source LowCardinality(String),
    category LowCardinality(String),
    harm LowCardinality(String),
    reporter_role String,
    patient_pseudonym String,
    patient_key_id LowCardinality(String) DEFAULT if(position(patient_pseudonym, ':') = 9, substring(patient_pseudonym, 1, 8), ''),
    description_redacted String,
    free_text_chars UInt32,
    nhs_numbers_redacted UInt16,
    other_identifiers_redacted UInt16,
    late UInt8,
    origin String,
    payload String CODEC(ZSTD(3)),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    report_ref String DEFAULT '',
    revision UInt32 DEFAULT 1,
    INDEX event_id_bloom event_id TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/incident_reports', '{replica}')
PARTITION BY toStartOfQuarter(occurred_at)
ORDER BY (org_id, unit_id, event_id)
TTL toDateTime(ingested_at) + INTERVAL 400 DAY
SETTINGS replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS quality.target_metrics_local ON CLUSTER '{cluster}'
(
    event_id UUID,
    org_id LowCardinality(String),
    unit_id LowCardinality(String),
    occurred_at DateTime64(6, 'UTC'),
    source LowCardinality(String),
    metric LowCardinality(String),
    period_start DateTime64(6, 'UTC'),
    period_end DateTime64(6, 'UTC'),
    numerator UInt64,
    denominator UInt64,
    value Nullable(Float64),
    unit LowCardinality(String) DEFAULT '',
    target Float64,
    higher_is_better UInt8,
    late UInt8,
    origin String,
    payload String CODEC(ZSTD(3)),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX event_id_bloom event_id TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/target_metrics', '{replica}')
PARTITION BY toStartOfQuarter(occurred_at)
ORDER BY (org_id, unit_id, event_id)
TTL toDateTime(ingested_at) + INTERVAL 400 DAY
SETTINGS replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS quality.patient_feedback_local ON CLUSTER '{cluster}'
(
    event_id UUID,
    org_id LowCardinality(String),
    unit_id LowCardinality(String),
    occurred_at DateTime64(6, 'UTC'),
    source LowCardinality(String),
    rating UInt8,
    period_start Nullable(DateTime64(6, 'UTC')),
    period_end Nullable(DateTime64(6, 'UTC')),
    counts Array(UInt32),
    responses UInt64 DEFAULT 1,
    channel LowCardinality(String),
    comment_redacted String,
    themes Array(LowCardinality(String)),
    free_text_chars UInt32,
    nhs_numbers_redacted UInt16,
    other_identifiers_redacted UInt16,
    late UInt8,
    origin String,
    payload String CODEC(ZSTD(3)),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX event_id_bloom event_id TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/patient_feedback', '{replica}')
PARTITION BY toStartOfQuarter(occurred_at)
ORDER BY (org_id, unit_id, event_id)
TTL toDateTime(ingested_at) + INTERVAL 400 DAY
SETTINGS replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS quality.alert_responses_local ON CLUSTER '{cluster}'
(
    event_id UUID,
    org_id LowCardinality(String),
    unit_id LowCardinality(String),
    occurred_at DateTime64(6, 'UTC'),
    source LowCardinality(String),
    alert_id String,
    response LowCardinality(String),
    responder_role String,
    note_redacted String,
    free_text_chars UInt32,
    nhs_numbers_redacted UInt16,
    other_identifiers_redacted UInt16,
    late UInt8,
    origin String,
    payload String CODEC(ZSTD(3)),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    owner String DEFAULT '',
    due_by Nullable(DateTime64(6, 'UTC')),
    INDEX event_id_bloom event_id TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/alert_responses', '{replica}')
ORDER BY (alert_id, event_id)
TTL toDateTime(ingested_at) + INTERVAL 1096 DAY
SETTINGS replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS quality.rejected_events_local ON CLUSTER '{cluster}'
(
    rejection_id String,
    reason LowCardinality(String),
    field String,
    detail String,
    raw_base64 String CODEC(ZSTD(3)),
    raw_preview String,
    origin String,
    received_at DateTime64(3, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/rejected_events', '{replica}')
PARTITION BY toYYYYMM(received_at)
ORDER BY (reason, rejection_id)
TTL toDateTime(received_at) + INTERVAL 90 DAY
SETTINGS replicated_deduplication_window = 10000, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS quality.unit_windows_local ON CLUSTER '{cluster}'
(
    org_id LowCardinality(String),
    unit_id LowCardinality(String),
    window_kind LowCardinality(String),
    window_start DateTime64(6, 'UTC'),
    window_end DateTime64(6, 'UTC'),
    fft_counts Array(UInt64),
    fft_responses UInt64,
    fft_positive UInt64,
    fft_negative UInt64,
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
    target_units Array(LowCardinality(String)),
    target_higher_is_better Array(UInt8),
    target_met Array(UInt8),
    target_distances Array(Float64),
    contributions UInt64,
    state String,
    theme_names Array(LowCardinality(String)),
    theme_counts Array(UInt32),
    digest String DEFAULT ''
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/unit_windows', '{replica}', contributions)
PARTITION BY toYear(window_start)
ORDER BY (org_id, unit_id, window_kind, window_start)
SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS quality.mdc_summary_local ON CLUSTER '{cluster}'
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
    version UInt64,
    point_starts Array(DateTime64(6, 'UTC')),
    point_ends Array(DateTime64(6, 'UTC')),
    point_values Array(Float64),
    point_sizes Array(Float64),
    point_types Array(LowCardinality(String))
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/mdc_summary', '{replica}', version)
ORDER BY (org_id, unit_id, window_kind, measure)
SETTINGS replicated_deduplication_window = 10000;

-- Every target metric of a unit, one row each (migration 0800).
CREATE TABLE IF NOT EXISTS quality.mdc_targets_local ON CLUSTER '{cluster}'
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/mdc_targets', '{replica}', version)
ORDER BY (org_id, unit_id, window_kind, metric)
SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS quality.bright_spots_local ON CLUSTER '{cluster}'
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/bright_spots', '{replica}', version)
ORDER BY (org_id, unit_id, window_kind, measure)
SETTINGS replicated_deduplication_window = 10000;

-- One verdict per unit, measure and window (migration 0081).
CREATE TABLE IF NOT EXISTS quality.verdicts_local ON CLUSTER '{cluster}'
(
    org_id LowCardinality(String),
    unit_id LowCardinality(String),
    window_kind LowCardinality(String),
    measure LowCardinality(String),
    window_start DateTime64(6, 'UTC'),
    window_end DateTime64(6, 'UTC'),
    value Float64,
    count UInt64,
    size Float64,
    centre Float64,
    lower_limit Float64,
    upper_limit Nullable(Float64),
    z Float64,
    rule LowCardinality(String),
    detector LowCardinality(String),
    verdict LowCardinality(String),
    chart LowCardinality(String),
    higher_is_better UInt8,
    version UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/verdicts', '{replica}', version)
ORDER BY (org_id, unit_id, window_kind, measure, window_start)
SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS quality.alerts_local ON CLUSTER '{cluster}'
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/alerts', '{replica}', detected_at)
ORDER BY alert_id
SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS quality.alert_history_local ON CLUSTER '{cluster}'
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/alert_history', '{replica}')
ORDER BY (alert_id, detected_at)
SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS quality.alert_deliveries_local ON CLUSTER '{cluster}'
(
    route LowCardinality(String),
    alert_id String,
    detected_at DateTime64(6, 'UTC'),
    delivered_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/alert_deliveries', '{replica}')
ORDER BY (route, alert_id, detected_at)
SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS quality.response_ledger_local ON CLUSTER '{cluster}'
(
    org_id LowCardinality(String),
    alert_id String,
    event_id UUID,
    unit_id LowCardinality(String),
    response LowCardinality(String),
    occurred_at DateTime64(6, 'UTC'),
    due_by Nullable(DateTime64(6, 'UTC')),
    owner String DEFAULT ''
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/response_ledger', '{replica}')
ORDER BY (org_id, alert_id, event_id)
SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS quality.incident_revisions_local ON CLUSTER '{cluster}'
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/incident_revisions', '{replica}')
ORDER BY (org_id, report_ref, event_id)
SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS quality.judgements_local ON CLUSTER '{cluster}'
(
    org_id LowCardinality(String),
    window_kind LowCardinality(String),
    mark Nullable(DateTime64(6, 'UTC')),
    digest String,
    judged_at DateTime64(6, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/judgements', '{replica}', judged_at)
ORDER BY (org_id, window_kind)
SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS quality.org_progress_local ON CLUSTER '{cluster}'
(
    org_id LowCardinality(String),
    latest_event DateTime64(6, 'UTC'),
    input_topic LowCardinality(String) DEFAULT '',
    input_partition Int32 DEFAULT -1
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/org_progress', '{replica}', latest_event)
ORDER BY org_id
SETTINGS replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS quality.period_events_local ON CLUSTER '{cluster}'
(
    org_id LowCardinality(String),
    unit_id LowCardinality(String),
    event_id UUID,
    occurred_at DateTime64(6, 'UTC'),
    period_end DateTime64(6, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/period_events', '{replica}')
ORDER BY (period_end, org_id, event_id)
SETTINGS replicated_deduplication_window = 10000;
