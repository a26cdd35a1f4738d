"""Read-only SQL over the pipeline's tables, into plain dataclasses the report is built from.

Every read goes through `query_dicts`, so the report works on the embedded engine and on a
server alike. Tables replaced by version are read with FINAL; event tables are counted by
distinct id. Nothing here writes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from pipeline.core.stored import EVENT_TABLES
from pipeline.core.target_reports import TargetAttainment
from pipeline.report.driver_values import as_utc
from pipeline.report.queries_alerts import (
    answers_of,
    load_alerts,
    load_responses,
    match_responses,
)
from pipeline.report.queries_bright import load_bright_spots
from pipeline.report.records import (
    AlertRecord,
    BoardRecord,
    ReportData,
    ResponseRecord,
    StoreCounts,
    TargetReport,
    VerdictRecord,
    WindowFigures,
)

__all__ = [
    "AlertRecord",
    "ReadableStore",
    "ReportData",
    "ResponseRecord",
    "StoreCounts",
    "TargetReport",
    "WindowFigures",
    "load_report_data",
]


class ReadableStore(Protocol):
    """What the report needs of a sink: a database name and a read query."""

    @property
    def database(self) -> str: ...

    def query_dicts(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]: ...


def load_report_data(store: ReadableStore, window_kind: str | None = None) -> ReportData:
    """Everything the report shows, read in a handful of queries."""
    kind = window_kind or _main_window_kind(store)
    reports = load_target_reports(store)
    directions = {(r.org_id, r.unit_id, r.metric): r.higher_is_better for r in reports}
    alerts = load_alerts(store)
    matched, unmatched = match_responses(load_responses(store), alerts)
    answers = [r for rs in matched.values() for r in rs]
    return ReportData(
        window_kind=kind,
        windows=tuple(load_windows(store, kind, directions)),
        target_reports=tuple(reports),
        alerts=tuple(replace(a, responses=answers_of(a, answers)) for a in alerts),
        counts=load_counts(store),
        data_end=load_data_end(store),
        unmatched_responses=tuple(unmatched),
        board=tuple(load_board(store, kind)),
        targets=tuple(load_board(store, kind, every_target=True)),
        uncharted_targets=tuple(load_uncharted_targets(store, kind)),
        bright=tuple(load_bright_spots(store, kind)),
        verdicts=tuple(load_verdicts(store, kind)),
    )


def load_verdicts(store: ReadableStore, window_kind: str) -> list[VerdictRecord]:
    """The verdicts the pipeline stored (pipeline.core.detection.verdicts), latest version."""
    rows = store.query_dicts(
        "SELECT org_id, unit_id, measure, window_start, value, centre, lower_limit, upper_limit, "
        f"z, rule, verdict, chart FROM {store.database}.verdicts FINAL "
        "WHERE window_kind = {kind:String} AND verdict != 'withdrawn' "
        "ORDER BY org_id, unit_id, measure, window_start",
        {"kind": window_kind},
    )
    return [
        VerdictRecord(
            org_id=str(r["org_id"]),
            unit_id=str(r["unit_id"]),
            measure=str(r["measure"]),
            window_start=as_utc(r["window_start"]),
            value=float(r["value"]),
            centre=float(r["centre"]),
            lower_limit=float(r["lower_limit"]),
            upper_limit=None if r["upper_limit"] is None else float(r["upper_limit"]),
            z=float(r["z"]),
            rule=str(r["rule"]),
            verdict=str(r["verdict"]),
            chart=str(r["chart"]),
        )
        for r in rows
    ]


def load_uncharted_targets(store: ReadableStore, window_kind: str) -> list[tuple[str, str, str]]:
    """(org, unit, metric) of every target metric whose stored row is withdrawn (`mdc_targets`:
    fewer than 3 returns since a gap, or none in the charted windows)."""
    rows = store.query_dicts(
        f"SELECT org_id, unit_id, metric FROM {store.database}.mdc_targets FINAL "
        "WHERE window_kind = {kind:String} AND variation = 'withdrawn' "
        "ORDER BY org_id, unit_id, metric",
        {"kind": window_kind},
    )
    return [(str(r["org_id"]), str(r["unit_id"]), str(r["metric"])) for r in rows]


def load_board(
    store: ReadableStore, window_kind: str, *, every_target: bool = False
) -> list[BoardRecord]:
    """The Making Data Count summary the pipeline stored (pipeline.core.board); with
    `every_target`, the row of every target metric of every unit instead (`mdc_targets`)."""
    table, measure, key = (
        ("mdc_targets", "'target' AS measure", "metric")
        if every_target
        else ("mdc_summary", "measure", "measure")
    )
    rows = store.query_dicts(
        f"SELECT org_id, unit_id, {measure}, metric, window_start, window_end, value, "
        "sample_size, mean, variation, assurance, target, points, improvement, point_starts, "
        f"point_values, point_types, lpl, upl FROM {store.database}.{table} FINAL "
        "WHERE window_kind = {kind:String} AND variation != 'withdrawn' "
        f"ORDER BY org_id, unit_id, {key}",
        {"kind": window_kind},
    )
    return [
        BoardRecord(
            org_id=str(r["org_id"]),
            unit_id=str(r["unit_id"]),
            measure=str(r["measure"]),
            metric=str(r["metric"]),
            window_start=as_utc(r["window_start"]),
            window_end=as_utc(r["window_end"]),
            value=float(r["value"]),
            sample_size=float(r["sample_size"]),
            mean=float(r["mean"]),
            variation=str(r["variation"]),
            assurance=None if r["assurance"] is None else str(r["assurance"]),
            target=None if r["target"] is None else float(r["target"]),
            points=int(r["points"]),
            improvement=str(r["improvement"]),
            point_starts=tuple(as_utc(x) for x in r["point_starts"]),
            point_values=tuple(float(v) for v in r["point_values"]),
            point_types=tuple(str(t) for t in r["point_types"]),
            lpl=None if r["lpl"] is None else float(r["lpl"]),
            upl=None if r["upl"] is None else float(r["upl"]),
        )
        for r in rows
    ]


def load_data_end(store: ReadableStore) -> datetime | None:
    db = store.database
    rows = store.query_dicts(
        "SELECT max(t) AS latest, sum(n) AS n FROM ("
        f"SELECT max(occurred_at) AS t, count() AS n FROM {db}.incident_reports UNION ALL "
        f"SELECT max(occurred_at), count() FROM {db}.patient_feedback UNION ALL "
        f"SELECT max(occurred_at), count() FROM {db}.target_metrics)"
    )
    if not rows or not rows[0]["n"]:
        return None
    return as_utc(rows[0]["latest"])


def _main_window_kind(store: ReadableStore) -> str:
    rows = store.query_dicts(
        f"SELECT window_kind, count() AS n FROM {store.database}.unit_windows "
        "GROUP BY window_kind ORDER BY n DESC, window_kind = 'week' DESC LIMIT 1"
    )
    return str(rows[0]["window_kind"]) if rows else "week"


def load_target_reports(store: ReadableStore) -> list[TargetReport]:
    """Each unit's target reports, one per metric and period: the revision in force (latest
    `occurred_at`, then event id, as the engine decides)."""
    version = "tuple(occurred_at, toString(event_id))"
    rows = store.query_dicts(
        f"SELECT org_id, unit_id, metric, period_start, period_end, "
        f"argMax(numerator, {version}) AS num, argMax(denominator, {version}) AS den, "
        f"argMax(target, {version}) AS target, argMax(higher_is_better, {version}) AS hib, "
        f"argMax(value, {version}) AS value, argMax(unit, {version}) AS unit "
        f"FROM {store.database}.target_metrics FINAL "
        "GROUP BY org_id, unit_id, metric, period_start, period_end "
        "ORDER BY org_id, unit_id, metric, period_start, period_end"
    )
    return [
        TargetReport(
            org_id=str(r["org_id"]),
            unit_id=str(r["unit_id"]),
            metric=str(r["metric"]),
            period_start=as_utc(r["period_start"]),
            period_end=as_utc(r["period_end"]),
            numerator=int(r["num"]),
            denominator=int(r["den"]),
            target=float(r["target"]),
            higher_is_better=bool(r["hib"]),
            value=None if r["value"] is None else float(r["value"]),
            unit=str(r["unit"] or ""),
        )
        for r in rows
    ]


def load_windows(
    store: ReadableStore,
    window_kind: str,
    directions: dict[tuple[str, str, str], bool] | None = None,
) -> list[WindowFigures]:
    """Every unit-window of `window_kind`, by organisation, unit and time. `directions` says
    whether higher is better per (org, unit, metric), which `unit_windows` does not keep."""
    db = store.database
    directions = directions or {}
    rows = store.query_dicts(
        "SELECT org_id, unit_id, window_start, window_end, fft_responses, fft_positive, "
        "fft_negative, incidents, harmful_incidents, activity, target_metrics, "
        "target_values, target_numerators, target_denominators, target_units, "
        "target_higher_is_better "
        f"FROM {db}.unit_windows FINAL WHERE window_kind = {{kind:String}} "
        "ORDER BY org_id, unit_id, window_start",
        {"kind": window_kind},
    )
    windows = []
    for row in rows:
        org, unit = str(row["org_id"]), str(row["unit_id"])
        metrics = [str(m) for m in row["target_metrics"]]
        # Rows stored before the v1.1 columns have empty ones: shares, direction as reported.
        units = list(row["target_units"]) or [""] * len(metrics)
        higher = [bool(h) for h in row["target_higher_is_better"]] or [
            directions.get((org, unit, m), True) for m in metrics
        ]
        targets = tuple(
            TargetAttainment(
                metric=metric,
                numerator=float(num),
                denominator=float(den),
                target=float(target),
                higher_is_better=better,
                unit=str(measured_in),
            )
            for metric, target, num, den, better, measured_in in zip(
                metrics,
                row["target_values"],
                row["target_numerators"],
                row["target_denominators"],
                higher,
                units,
                strict=True,
            )
        )
        windows.append(
            WindowFigures(
                org_id=org,
                unit_id=unit,
                start=as_utc(row["window_start"]),
                end=as_utc(row["window_end"]),
                fft_responses=int(row["fft_responses"]),
                fft_positive=int(row["fft_positive"]),
                fft_negative=int(row["fft_negative"]),
                incidents=int(row["incidents"]),
                harmful_incidents=int(row["harmful_incidents"]),
                activity=None if row["activity"] is None else float(row["activity"]),
                targets=targets,
            )
        )
    return windows


def load_counts(store: ReadableStore) -> StoreCounts:
    db = store.database
    events = {}
    late = {}
    for event_type, table in EVENT_TABLES.items():
        row = store.query_dicts(
            "SELECT uniqExact(event_id) AS n, uniqExactIf(event_id, late = 1) AS late "
            f"FROM {db}.{table}"
        )[0]
        events[event_type.value] = int(row["n"])
        late[event_type.value] = int(row["late"])
    reasons = Counter[str]()
    for r in store.query_dicts(
        f"SELECT reason, uniqExact(rejection_id) AS n FROM {db}.rejected_events GROUP BY reason"
    ):
        reasons[str(r["reason"])] += int(r["n"])
    return StoreCounts(
        events=events,
        rejected_by_reason=dict(sorted(reasons.items())),
        late_events=sum(late.values()),
        late_target_returns=late.get("target_metric", 0),
    )
