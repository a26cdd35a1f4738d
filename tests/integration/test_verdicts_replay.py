"""After `pipeline replay`, the stored verdicts agree with the alerts, and the report reads them.

One simulated trust (shuffled, with duplicates) is replayed into embedded ClickHouse exactly as
the command does; then every window an alert flags must be a concern in the `verdicts` table,
and the report's overview classes and charts must be what that table says.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from pipeline.adapters.clickhouse import ClickHouseSink
from pipeline.cli.replay import replay
from pipeline.core.spc import PointType
from pipeline.report.build import build_view
from pipeline.report.queries import load_report_data
from pipeline.report.verdicts import judged
from pipeline.simulation import SimulationConfig, simulate_trust

pytestmark = pytest.mark.slow

CONCERNS = ("concern", "reporting_concern")


@dataclass
class Replayed:
    sink: ClickHouseSink
    alerts: list[dict[str, Any]]

    def verdicts(self) -> dict[tuple[str, str, str, datetime], dict[str, Any]]:
        rows = self.sink.query_dicts(
            "SELECT org_id, unit_id, measure, window_start, verdict, value, centre, lower_limit, "
            "upper_limit, rule FROM quality.verdicts FINAL WHERE verdict != 'withdrawn'"
        )
        return {(r["org_id"], r["unit_id"], r["measure"], _naive(r["window_start"])): r
                for r in rows}  # fmt: skip


def _naive(moment: datetime) -> datetime:
    """ClickHouse hands back naive UTC; compare everything that way."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replayed]:
    root = tmp_path_factory.mktemp("verdicts")
    trust = simulate_trust(
        SimulationConfig(seed=11, orgs=2, units_per_org=4, weeks=40, shuffle=True, duplicates=0.01)
    )
    events = root / "events.jsonl"
    events.write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in trust.events))
    dsn = f"chdb://{root / 'clickhouse'}"
    alerts_out = root / "alerts.jsonl"
    replay([str(events)], dsn=dsn, window=None, alerts_out=alerts_out, summary_json=None,
           out=io.StringIO())  # fmt: skip
    alerts = [json.loads(line) for line in alerts_out.read_text().splitlines()]
    sink = ClickHouseSink(dsn, "quality", "week")
    try:
        yield Replayed(sink, alerts)
    finally:
        sink.close()


def _flagged(alert: dict[str, Any]) -> list[tuple[str, str]]:
    """(measure, window start) of every window an alert's evidence flags."""
    evidence = alert["evidence"]
    if alert["kind"] == "reporting_silence":
        return [("incident_reporting", w["window_start"]) for w in evidence["windows"]
                if w.get("rule")]  # fmt: skip
    return [
        (measure, w["window_start"])
        for measure, entry in evidence.get("measures", {}).items()
        for w in entry["windows"]
        if w.get("rule")
    ]


def test_every_window_an_alert_flags_is_a_stored_concern(replayed: Replayed) -> None:
    verdicts = replayed.verdicts()
    standing = [a for a in replayed.alerts if a["status"] != "withdrawn"]
    assert len({a["kind"] for a in standing}) >= 2
    checked = 0
    for alert in standing:
        for measure, start in _flagged(alert):
            key = (alert["org_id"], alert["unit_id"], measure,
                   _naive(datetime.fromisoformat(start)))  # fmt: skip
            assert key in verdicts, key
            assert verdicts[key]["verdict"] in CONCERNS, (alert["kind"], key, verdicts[key])
            checked += 1
    assert checked >= 10
    # and the table is not all concerns: most judged windows of a simulated trust are calm
    classes = [v["verdict"] for v in verdicts.values()]
    assert classes.count("common_cause") > len(classes) / 2


def test_stored_limits_are_never_negative_and_bracket_the_centre(replayed: Replayed) -> None:
    for key, v in replayed.verdicts().items():
        assert 0.0 <= v["lower_limit"] <= v["centre"], key
        assert v["upper_limit"] is None or v["centre"] <= v["upper_limit"], key


def test_the_report_reads_the_stored_verdicts(replayed: Replayed) -> None:
    view = build_view(load_report_data(replayed.sink))
    verdicts = replayed.verdicts()
    precedence = ("concern", "reporting_concern", "improvement", "common_cause")
    compared = 0
    for period in view.periods:
        begin, end = _naive(period.start), _naive(period.end)
        for unit in period.units:
            for measures, shown in (
                (("positive_share", "negative_share"), unit.experience_class),
                (("harmful_incident_rate",), unit.safety_class),
            ):
                found = {
                    v["verdict"]
                    for (o, u, m, start), v in verdicts.items()
                    if (o, u) == unit.key and m in measures and begin <= start < end
                }
                stored = next((c for c in precedence if c in found), None)
                assert shown == stored, (unit.key, measures, period.start)
                compared += stored is not None
    assert compared > 0
    # Each chart of experience is the stored series, point by point, each point of the class
    # of its window's experience: the more telling of the two shares' (good and poor ratings).
    colours = {"concern": PointType.SPECIAL_CAUSE_CONCERN,
               "reporting_concern": PointType.SPECIAL_CAUSE_CONCERN,
               "improvement": PointType.SPECIAL_CAUSE_IMPROVEMENT,
               "common_cause": PointType.COMMON_CAUSE}  # fmt: skip
    charts = 0
    for unit_charts in view.charts:
        for chart in unit_charts.charts:
            if chart.measure != "experience":
                continue
            charts += 1
            for point in chart.chart.points:
                key = (*unit_charts.unit.key, "positive_share", _naive(point.x))
                if not judged(point):  # the learning period: grey, no verdict, no limits
                    assert key not in verdicts and point.point_type is PointType.COMMON_CAUSE
                    continue
                v = verdicts[key]
                assert point.y == pytest.approx(v["value"])
                assert point.mean == pytest.approx(v["centre"])
                poor = verdicts.get((*key[:2], "negative_share", key[3]), v)
                both = {v["verdict"], poor["verdict"]}
                assert point.point_type is colours[next(c for c in precedence if c in both)]
    assert charts == len(view.charts)


def test_the_board_summary_shows_the_stored_verdicts(replayed: Replayed) -> None:
    """The Making Data Count summary's variation of a judged latest window is its verdict, of
    one with no verdict `not_judged`."""
    verdicts = replayed.verdicts()
    variation = {
        "concern": "special_cause_concern",
        "reporting_concern": "special_cause_concern",
        "improvement": "special_cause_improvement",
        "common_cause": "common_cause",
    }
    rank = list(variation)
    rows = replayed.sink.query_dicts(
        "SELECT org_id, unit_id, measure, window_start, variation, mean "
        "FROM quality.mdc_summary FINAL WHERE measure IN ('experience', 'safety') "
        "AND variation != 'withdrawn'"
    )
    compared = 0
    for row in rows:
        start = _naive(row["window_start"])
        measures = ("positive_share", "negative_share") if row["measure"] == "experience" else (
            "harmful_incident_rate",)  # fmt: skip
        judged = [verdicts[k] for m in measures
                  if (k := (row["org_id"], row["unit_id"], m, start)) in verdicts]  # fmt: skip
        if not judged:  # the learning period: not judged, as on its chart
            assert row["variation"] == "not_judged" and math.isnan(row["mean"]), row
            continue
        worst = min((v["verdict"] for v in judged), key=rank.index)
        assert row["variation"] == variation[worst], row
        assert row["mean"] == pytest.approx(judged[0]["centre"])
        compared += 1
    assert compared >= 8
