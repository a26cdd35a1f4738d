"""The worker's ClickHouse sink: the shared sink plus the alert delivery outbox.

`alert_deliveries` (migration 0003_alert_deliveries.sql) records which alert versions
each route has taken; a stored version without a delivery is routed again on start-up. The
few extra queries the worker needs to restore its view (first detection of each alert, the
windows still open) live here too, beside the sink whose tables they read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pipeline.adapters.clickhouse import ClickHouseSink
from pipeline.adapters.clickhouse.rows import alert_from_row, utc
from pipeline.core.alerts import Alert

Version = tuple[str, datetime]


def version_of(alert: Alert) -> Version:
    return alert.alert_id, utc(alert.detected_at)


class WorkerSink(ClickHouseSink):
    """`ClickHouseSink` with the delivery outbox."""

    def mark_delivered(self, versions: Sequence[Version], route: str) -> None:
        """Record that `route` took these alert versions. Idempotent."""
        if not versions:
            return
        rows = [
            {"route": route, "alert_id": alert_id, "detected_at": utc(detected).isoformat()}
            for alert_id, detected in sorted(set(versions))
        ]
        self.insert_rows("alert_deliveries", rows, token=f"delivered|{route}")

    def undelivered(self, route: str) -> list[Alert]:
        """Every stored alert version `route` has not taken, oldest first."""
        db = self.database
        rows = self.query_dicts(
            f"SELECT DISTINCT * FROM {db}.alert_history WHERE (alert_id, detected_at) NOT IN "
            f"(SELECT alert_id, detected_at FROM {db}.alert_deliveries WHERE route = '{route}') "
            "ORDER BY detected_at, alert_id"
        )
        return [alert_from_row(row) for row in rows]

    def delivered_versions(self, route: str) -> set[Version]:
        rows = self.query_dicts(
            f"SELECT DISTINCT alert_id, detected_at FROM {self.database}.alert_deliveries "
            f"WHERE route = '{route}'"
        )
        return {(row["alert_id"], utc(row["detected_at"])) for row in rows}

    def first_detected(self) -> dict[str, datetime]:
        """When each alert was first raised (its first version), for Alertmanager's startsAt."""
        rows = self.query_dicts(
            f"SELECT alert_id, min(detected_at) AS first FROM {self.database}.alert_history "
            "GROUP BY alert_id"
        )
        return {row["alert_id"]: utc(row["first"]) for row in rows}

    def window_ends(self, after: datetime | None) -> list[tuple[str, str, datetime, datetime]]:
        """(org, unit, window start, window end) of the stored windows ending after `after`."""
        where = f"window_kind = '{self.window_kind}'"
        if after is not None:
            where += f" AND window_end > toDateTime('{utc(after):%Y-%m-%d %H:%M:%S}', 'UTC')"
        rows = self.query_dicts(
            f"SELECT org_id, unit_id, window_start, window_end FROM {self.database}.unit_windows "
            f"WHERE {where} GROUP BY org_id, unit_id, window_start, window_end"
        )
        return [
            (row["org_id"], row["unit_id"], utc(row["window_start"]), utc(row["window_end"]))
            for row in rows
        ]
