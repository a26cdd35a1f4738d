-- The pipeline's tables for a ClickHouse cluster: the Distributed half. These carry the names
-- the pipeline and the dashboards use (quality.patient_feedback, ...), so neither changes; each
-- reads from and writes to the *_local tables of every shard. Run after 01_local_tables.sql.
--
-- Sharding keys keep everything about one unit on one shard: every version of a row (the same
-- event_id, the same unit window, the same alert) lands on the same shard, so ReplacingMergeTree
-- replaces it there and FINAL, applied shard by shard, stays correct. Rows without a unit
-- (rejections, deliveries) are spread by their own id.

CREATE TABLE IF NOT EXISTS quality.incident_reports ON CLUSTER '{cluster}'
AS quality.incident_reports_local
ENGINE = Distributed('{cluster}', quality, incident_reports_local, cityHash64(org_id, unit_id));

CREATE TABLE IF NOT EXISTS quality.target_metrics ON CLUSTER '{cluster}'
AS quality.target_metrics_local
ENGINE = Distributed('{cluster}', quality, target_metrics_local, cityHash64(org_id, unit_id));

CREATE TABLE IF NOT EXISTS quality.patient_feedback ON CLUSTER '{cluster}'
AS quality.patient_feedback_local
ENGINE = Distributed('{cluster}', quality, patient_feedback_local, cityHash64(org_id, unit_id));

CREATE TABLE IF NOT EXISTS quality.alert_responses ON CLUSTER '{cluster}'
AS quality.alert_responses_local
ENGINE = Distributed('{cluster}', quality, alert_responses_local, cityHash64(org_id, unit_id));

CREATE TABLE IF NOT EXISTS quality.rejected_events ON CLUSTER '{cluster}'
AS quality.rejected_events_local
ENGINE = Distributed('{cluster}', quality, rejected_events_local, cityHash64(rejection_id));

CREATE TABLE IF NOT EXISTS quality.unit_windows ON CLUSTER '{cluster}'
AS quality.unit_windows_local
ENGINE = Distributed('{cluster}', quality, unit_windows_local, cityHash64(org_id, unit_id));

CREATE TABLE IF NOT EXISTS quality.mdc_summary ON CLUSTER '{cluster}'
AS quality.mdc_summary_local
ENGINE = Distributed('{cluster}', quality, mdc_summary_local, cityHash64(org_id, unit_id));

CREATE TABLE IF NOT EXISTS quality.mdc_targets ON CLUSTER '{cluster}'
AS quality.mdc_targets_local
ENGINE = Distributed('{cluster}', quality, mdc_targets_local, cityHash64(org_id, unit_id));

CREATE TABLE IF NOT EXISTS quality.bright_spots ON CLUSTER '{cluster}'
AS quality.bright_spots_local
ENGINE = Distributed('{cluster}', quality, bright_spots_local, cityHash64(org_id, unit_id));
CREATE TABLE IF NOT EXISTS quality.verdicts ON CLUSTER '{cluster}'
AS quality.verdicts_local
ENGINE = Distributed('{cluster}', quality, verdicts_local, cityHash64(org_id, unit_id));

CREATE TABLE IF NOT EXISTS quality.alerts ON CLUSTER '{cluster}'
AS quality.alerts_local
ENGINE = Distributed('{cluster}', quality, alerts_local, cityHash64(org_id, unit_id));

CREATE TABLE IF NOT EXISTS quality.alert_history ON CLUSTER '{cluster}'
AS quality.alert_history_local
ENGINE = Distributed('{cluster}', quality, alert_history_local, cityHash64(org_id, unit_id));

CREATE TABLE IF NOT EXISTS quality.alert_deliveries ON CLUSTER '{cluster}'
AS quality.alert_deliveries_local
ENGINE = Distributed('{cluster}', quality, alert_deliveries_local, cityHash64(alert_id));

CREATE TABLE IF NOT EXISTS quality.response_ledger ON CLUSTER '{cluster}'
AS quality.response_ledger_local
ENGINE = Distributed('{cluster}', quality, response_ledger_local, cityHash64(org_id, unit_id));

CREATE TABLE IF NOT EXISTS quality.incident_revisions ON CLUSTER '{cluster}'
AS quality.incident_revisions_local
ENGINE = Distributed('{cluster}', quality, incident_revisions_local, cityHash64(org_id, unit_id));

CREATE TABLE IF NOT EXISTS quality.judgements ON CLUSTER '{cluster}'
AS quality.judgements_local
ENGINE = Distributed('{cluster}', quality, judgements_local, cityHash64(org_id));

CREATE TABLE IF NOT EXISTS quality.org_progress ON CLUSTER '{cluster}'
AS quality.org_progress_local
ENGINE = Distributed('{cluster}', quality, org_progress_local, cityHash64(org_id));

CREATE TABLE IF NOT EXISTS quality.period_events ON CLUSTER '{cluster}'
AS quality.period_events_local
ENGINE = Distributed('{cluster}', quality, period_events_local, cityHash64(org_id, unit_id));
