-- Window bounds as DateTime64 (issue 12): a 32-bit DateTime holds 1970 to 2106 only, so windows
-- outside that range would collapse onto its edges. Event times are bounded (1900 to 2299 by
-- storage, 1990 by the default event-time horizon), and every accepted one must be held exactly.
--
-- window_start is in the sorting and partition keys, which ClickHouse does not let ALTER change,
-- so the table is rebuilt: a copy with the new types (every other column, including any added by
-- other migrations, copied as it is), swapped in atomically, the old one dropped. Each step can
-- run again after a crash between steps: a leftover copy is dropped first.
DROP TABLE IF EXISTS {db}.unit_windows_dt64;

CREATE TABLE {db}.unit_windows_dt64
ENGINE = ReplacingMergeTree(contributions)
PARTITION BY toYear(window_start)
ORDER BY (org_id, unit_id, window_kind, window_start)
SETTINGS non_replicated_deduplication_window = 10000
AS SELECT * REPLACE (
    toDateTime64(window_start, 6, 'UTC') AS window_start,
    toDateTime64(window_end, 6, 'UTC') AS window_end
)
FROM {db}.unit_windows;

EXCHANGE TABLES {db}.unit_windows AND {db}.unit_windows_dt64;

DROP TABLE {db}.unit_windows_dt64;
