-- Retention. Raw events hold free text (redacted) and patient pseudonyms: they are kept for 400
-- days (a year of look-back for the detector's baselines plus a quarter's grace for late data
-- and investigations). Alert responses are the record of what safety teams did, so they stay
-- for three years; rejected input keeps the original bytes for diagnosis and only needs to
-- outlive the investigation of a bad publisher: 90 days. Aggregates (unit_windows) and alerts
-- (alerts, alert_history, alert_deliveries) hold no personal data and are what the dashboards
-- read: no TTL.
--
-- Retention counts from when the pipeline stored a row (ingested_at, received_at), not from the
-- event's own time: a replay of historical events (years old) is kept like any other input
-- instead of being dropped on arrival.
--
-- Whole parts are dropped once every row in them is past its TTL (ttl_only_drop_parts): no
-- rewriting of parts, at the cost of a row outliving its TTL by at most the time over which
-- its part's rows were stored. A TTL must be a Date or DateTime, hence toDateTime(...).

ALTER TABLE {db}.incident_reports MODIFY TTL toDateTime(ingested_at) + INTERVAL 400 DAY;
ALTER TABLE {db}.incident_reports MODIFY SETTING ttl_only_drop_parts = 1;

ALTER TABLE {db}.target_metrics MODIFY TTL toDateTime(ingested_at) + INTERVAL 400 DAY;
ALTER TABLE {db}.target_metrics MODIFY SETTING ttl_only_drop_parts = 1;

ALTER TABLE {db}.patient_feedback MODIFY TTL toDateTime(ingested_at) + INTERVAL 400 DAY;
ALTER TABLE {db}.patient_feedback MODIFY SETTING ttl_only_drop_parts = 1;

ALTER TABLE {db}.alert_responses MODIFY TTL toDateTime(ingested_at) + INTERVAL 1096 DAY;
ALTER TABLE {db}.alert_responses MODIFY SETTING ttl_only_drop_parts = 1;

ALTER TABLE {db}.rejected_events MODIFY TTL toDateTime(received_at) + INTERVAL 90 DAY;
ALTER TABLE {db}.rejected_events MODIFY SETTING ttl_only_drop_parts = 1;
