-- One verdict per unit, measure and window (pipeline.core.detection.verdicts): the value, the
-- unit's usual level (centre), its exact limits, z (towards worse), the rule and detector that
-- fired and the class (concern, reporting_concern, improvement, common_cause), computed once by
-- the engine from the monitors the alerts come from. The report and Grafana read it instead of
-- judging "worse" themselves. `version` grows with what the organisation's closed windows hold,
-- so the verdict judged on the most data replaces earlier ones whatever the order of replays and
-- retries: read with FINAL (or argMax on version). No personal data: no TTL.
CREATE TABLE IF NOT EXISTS {db}.verdicts
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
ENGINE = ReplacingMergeTree(version)
ORDER BY (org_id, unit_id, window_kind, measure, window_start)
SETTINGS non_replicated_deduplication_window = 10000;
