"""The alert delivery outbox in ClickHouse (schemas/clickhouse/0003_alert_deliveries.sql).

`alert_deliveries` records which alert versions each route has taken; a stored version without
a delivery is routed again on start-up. Mixed into the sink, whose tables it reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pipeline.adapters.clickhouse.rows import alert_from_row, utc
from pipeline.core.alerts import Alert

Version = tuple[str, datetime]


def version_of(alert: Alert) -> Version:
    return alert.alert_id, utc(alert.detected_at)


class Outbox:
    """Needs `database`, `insert_rows` and `query_dicts` (the sink provides them)."""

    database: str

    def insert_rows(self, table: str, rows: Sequence[Mapping[str, Any]], token: str) -> None:
        raise NotImplementedError

    def query_dicts(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        raise NotImplementedError

    def mark_delivered(self, versions: Sequence[Version], route: str) -> None:
        """Record that `route` took these alert versions. Idempotent."""
        if not versions:
            return
        rows = [
            {"route": route, "alert_id": alert_id, "detected_at": utc(detected)}
            for alert_id, detected in sorted(set(versions))
        ]
        self.insert_rows("alert_deliveries", rows, token=f"delivered|{route}")

    def undelivered(self, route: str) -> list[Alert]:
        """Every stored alert version `route` has not taken, oldest first."""
        db = self.database
        rows = self.query_dicts(
            f"SELECT DISTINCT * FROM {db}.alert_history WHERE (alert_id, detected_at) NOT IN "
            f"(SELECT alert_id, detected_at FROM {db}.alert_deliveries WHERE route = {{r:String}}) "
            "ORDER BY detected_at, alert_id",
            {"r": route},
        )
        return [alert_from_row(row) for row in rows]

    def delivered_versions(self, route: str) -> set[Version]:
        rows = self.query_dicts(
            f"SELECT DISTINCT alert_id, detected_at FROM {self.database}.alert_deliveries "
            "WHERE route = {r:String}",
            {"r": route},
        )
        return {(row["alert_id"], utc(row["detected_at"])) for row in rows}

    def first_detected(self) -> dict[str, datetime]:
        """When each alert was first raised (its first version), for Alertmanager's startsAt."""
        rows = self.query_dicts(
            f"SELECT alert_id, min(detected_at) AS first FROM {self.database}.alert_history "
            "GROUP BY alert_id"
        )
        return {row["alert_id"]: utc(row["first"]) for row in rows}
