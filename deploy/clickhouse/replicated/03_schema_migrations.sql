-- The migration ledger, replicated to every node of the cluster (one ZooKeeper path for all
-- shards), marked with the migrations that 01 and 02 already cover. `pipeline migrate` then
-- finds nothing to do and never runs a single-node statement (ALTER ... MODIFY TTL on a
-- Distributed table would fail). A later migration must be written for the cluster too: add
-- its ON CLUSTER form here (or beside it) and its version to this list.

CREATE TABLE IF NOT EXISTS quality.schema_migrations ON CLUSTER '{cluster}'
(
    version UInt32,
    name String,
    applied_at DateTime DEFAULT now()
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/{database}/schema_migrations', '{replica}')
ORDER BY version;

INSERT INTO quality.schema_migrations (version, name) VALUES
    (1, '0001_events'),
    (2, '0002_windows_alerts'),
    (3, '0003_alert_deliveries'),
    (4, '0004_retention'),
    (11, '0011_window_state'),
    (12, '0012_event_id_index'),
    (21, '0021_unit_windows_datetime64'),
    (31, '0031_pseudonym_key_id'),
    (51, '0051_learning_loop'),
    (52, '0052_board'),
    (61, '0061_value_targets_feedback_batches'),
    (71, '0071_ledger_and_judgements'),
    (81, '0081_verdicts'),
    (101, '0101_bright_spots'),
    (231, '0231_period_events'),
    (331, '0331_event_partitions_by_quarter'),
    (350, '0350_window_digests'),
    (360, '0360_wide_feedback_counts'),
    (460, '0460_board_target_points'),
    (480, '0480_response_ledger_due_by'),
    (700, '0700_response_ledger_owner'),
    (800, '0800_board_targets'),
    (900, '0900_org_progress_input_partition');
