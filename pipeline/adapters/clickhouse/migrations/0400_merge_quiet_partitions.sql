-- Partitions that no longer take inserts are merged into one part (issue 11, start-up): every
-- active part is opened each time the embedded engine starts, and ClickHouse's merge selector
-- leaves the last few parts of an old quarter apart for days (it merges small parts together
-- once they are an hour old, parts of some MB much later). With these settings a partition
-- whose parts are all an hour old is merged whole, once: old quarters (late events only) end
-- as one part each, while the current one, taking inserts, is left to the usual merges.
ALTER TABLE {db}.patient_feedback MODIFY SETTING min_age_to_force_merge_seconds = 3600, min_age_to_force_merge_on_partition_only = 1;

ALTER TABLE {db}.incident_reports MODIFY SETTING min_age_to_force_merge_seconds = 3600, min_age_to_force_merge_on_partition_only = 1;

ALTER TABLE {db}.target_metrics MODIFY SETTING min_age_to_force_merge_seconds = 3600, min_age_to_force_merge_on_partition_only = 1;

ALTER TABLE {db}.unit_windows MODIFY SETTING min_age_to_force_merge_seconds = 3600, min_age_to_force_merge_on_partition_only = 1;

ALTER TABLE {db}.rejected_events MODIFY SETTING min_age_to_force_merge_seconds = 3600, min_age_to_force_merge_on_partition_only = 1;
