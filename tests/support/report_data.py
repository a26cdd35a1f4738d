"""The store the report tests share: two organisations, six units, a year of weeks, and one
of each kind of alert, written through the real sink."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from pipeline.adapters.clickhouse import ClickHouseSink
from pipeline.core.aggregates import HARM_ORDER, UnitWindowAggregate
from pipeline.core.alerts import Alert, AlertKind, AlertStatus, Severity, alert_id_for
from pipeline.core.detection import DetectionConfig
from pipeline.core.engine import BatchResult, Engine, EngineConfig, RawMessage
from pipeline.core.events import AlertResponse, EventType, ResponseKind, TargetMetric
from pipeline.core.target_reports import TargetAttainment
from pipeline.core.verdict_book import VerdictBook, VerdictRow
from pipeline.core.windows import Window

START = datetime(2024, 4, 1, tzinfo=UTC)  # a Monday
WEEKS = 52
DETECTED = datetime(2025, 4, 1, 9, tzinfo=UTC)
# org, unit, metric, target, attainment, positive share, harmful incidents a week
UNITS = [
    ("RXA", "ED", "ae_4h", 0.95, 0.955, 0.88, 3.0),
    ("RXA", "ORTHO", "rtt_18w", 0.92, 0.93, 0.92, 1.0),
    ("RXA", "CARDIO", "cancer_62d", 0.85, 0.80, 0.93, 1.0),
    ("RXB", "ED", "ae_4h", 0.95, 0.96, 0.86, 3.0),
    ("RXB", "GENSURG", "rtt_18w", 0.92, 0.94, 0.90, 1.5),
    ("RXB", "MATERNITY", "ae_4h", 0.95, 0.97, 0.94, 1.0),
]


def week(index: int) -> Window:
    start = START + timedelta(weeks=index)
    return Window(start, start + timedelta(weeks=1))


def _aggregates() -> list[UnitWindowAggregate]:
    rng = random.Random(7)
    out = []
    for org, unit, metric, target, attain, share, harm in UNITS:
        for i in range(WEEKS):
            a, s, h = attain, share, harm
            if (org, unit) == ("RXA", "ED") and i >= 38:  # targets up, experience down
                a, s = 0.972, share - 0.16
            if (org, unit) == ("RXB", "GENSURG") and i >= 39:
                s = 0.70
            if (org, unit) == ("RXB", "MATERNITY") and 30 <= i < 40:
                h = 5.0
            denominator = 1500.0
            numerator = round(denominator * min(1.0, a + rng.gauss(0, 0.006)))
            # general surgery hears from few patients: its fall barely moves RXB's overall figure
            responses = 50 + rng.randrange(20) if unit == "GENSURG" else 200 + rng.randrange(60)
            positive = round(responses * min(1.0, s + rng.gauss(0, 0.02)))
            negative = (responses - positive) // 2
            neutral = responses - positive - negative
            harmful = max(0, round(h + rng.gauss(0, 1)))
            out.append(
                UnitWindowAggregate(
                    org_id=org,
                    unit_id=unit,
                    window=week(i),
                    fft_counts=(positive, 0, neutral, negative, 0, 3),
                    incidents_by_harm=(4, harmful, 0, 0, 0),
                    incidents_by_category=(4 + harmful, *([0] * 9)),
                    targets=(TargetAttainment(metric, numerator, denominator, target, True),),
                    contributions=responses + 4 + harmful + 1,
                )
            )
    assert len(HARM_ORDER) == 5
    return out


def _alert(
    kind: AlertKind,
    org: str,
    unit: str,
    first: int,
    last: int,
    severity: Severity,
    status: AlertStatus,
    summary: str,
    evidence: dict[str, object],
) -> Alert:
    return Alert(
        alert_id=alert_id_for(kind, org, unit, week(first).start),
        kind=kind,
        org_id=org,
        unit_id=unit,
        window_start=week(first).start,
        window_end=week(last).end,
        severity=severity,
        status=status,
        summary=summary,
        evidence=evidence,
        detected_at=DETECTED,
    )


def alerts() -> list[Alert]:
    return [
        _alert(
            AlertKind.TARGET_EXPERIENCE_DIVERGENCE,
            "RXA",
            "ED",
            38,
            51,
            Severity.HIGH,
            AlertStatus.OPEN,
            "RXA ED met its 4-hour target (97.2%) while patients rating care good fell "
            "from 88% to 72%.",
            {
                "method": "XmR (Making Data Count) on weekly positive share",
                "targets": [{"metric": "ae_4h", "attainment": 0.972, "target": 0.95}],
                "positive_share": 0.72,
                "baseline_positive_share": 0.88,
                "lower_process_limit": 0.83,
                "responses": 3120,
            },
        ),
        _alert(
            AlertKind.MASKED_DARK_SPOT,
            "RXB",
            "GENSURG",
            39,
            51,
            Severity.MEDIUM,
            AlertStatus.OPEN,
            "General surgery's patients rate it well below the rest of RXB, which looks green.",
            {"method": "unit vs rest of organisation", "positive_share": 0.70, "org_share": 0.9},
        ),
        # The core raises a divergence wherever a unit met its targets while its own chart
        # signalled, beside a dark spot or safety signal on the same weeks.
        _alert(
            AlertKind.TARGET_EXPERIENCE_DIVERGENCE,
            "RXB",
            "GENSURG",
            39,
            51,
            Severity.MEDIUM,
            AlertStatus.OPEN,
            "General surgery met its 18-week target while patients rating care good fell.",
            {"method": "unit's own exact limits", "positive_share": 0.70},
        ),
        _alert(
            AlertKind.TARGET_EXPERIENCE_DIVERGENCE,
            "RXB",
            "MATERNITY",
            30,
            38,
            Severity.MEDIUM,
            AlertStatus.RESOLVED,
            "Maternity met its 4-hour target while reporting more harmful incidents than usual.",
            {"method": "unit's own exact limits", "harmful_incidents": 50},
        ),
        _alert(
            AlertKind.SAFETY_SIGNAL,
            "RXB",
            "MATERNITY",
            30,
            39,
            Severity.MEDIUM,
            AlertStatus.RESOLVED,
            "Maternity reported more harmful incidents than usual for ten weeks.",
            {"method": "XmR on weekly harmful incidents", "harmful_incidents": 50},
        ),
        _alert(
            AlertKind.SAFETY_SIGNAL,
            "RXA",
            "ORTHO",
            20,
            21,
            Severity.LOW,
            AlertStatus.WITHDRAWN,
            "Withdrawn: late reports showed no rise.",
            {"method": "XmR"},
        ),
    ]


def responses(alert_id: str) -> list[AlertResponse]:
    out = []
    for day, kind, note in [
        (1, ResponseKind.ACKNOWLEDGED, "Seen by the ED matron."),
        (3, ResponseKind.INVESTIGATING, "Reviewing corridor care <b>and</b> waits for beds."),
    ]:
        out.append(
            AlertResponse(
                schema_version=1,
                event_type=EventType.ALERT_RESPONSE,
                event_id=uuid.UUID(int=day),
                org_id="RXA",
                unit_id="ED",
                occurred_at=DETECTED + timedelta(days=day),
                source="safety-team",
                alert_id=alert_id,
                response=kind,
                responder_role="patient safety lead",
                note=note,
            )
        )
    return out


def target_reports() -> list[TargetMetric]:
    """A monthly report per unit, as published a few days after the month."""
    rng = random.Random(11)
    out = []
    for org, unit, metric, target, attain, *_ in UNITS:
        for month in range(12):
            start = datetime(2024 + (3 + month) // 12, (3 + month) % 12 + 1, 1, tzinfo=UTC)
            end = datetime(2024 + (4 + month) // 12, (4 + month) % 12 + 1, 1, tzinfo=UTC)
            a = (
                0.972
                if (org, unit) == ("RXA", "ED") and start >= START + timedelta(weeks=38)
                else attain
            )
            out.append(
                TargetMetric(
                    schema_version=1,
                    event_type=EventType.TARGET_METRIC,
                    event_id=uuid.UUID(int=rng.getrandbits(128)),
                    org_id=org,
                    unit_id=unit,
                    occurred_at=end + timedelta(days=5),
                    source="test",
                    metric=metric,
                    period_start=start,
                    period_end=end,
                    numerator=round(6000 * min(1.0, a + rng.gauss(0, 0.005))),
                    denominator=6000,
                    target=target,
                )
            )
    return out


def fill_store(sink: ClickHouseSink) -> None:
    """Write the shared test data through the sink: the responses and target reports as the
    engine stores them, with its target rows (every target's chart), the unit windows and
    alerts as made here (so the figures are known)."""
    raised = alerts()
    answered = raised[0]  # as the core's learning loop stores an alert its responses answer
    group = {"id": answered.alert_id, "alerts": [answered.alert_id], "answered": True}
    raised[0] = answered.model_copy(
        update={"evidence": {**answered.evidence, "episode_group": group}}
    )
    events: list[AlertResponse | TargetMetric] = [*responses(answered.alert_id)]
    events += target_reports()
    engine = Engine(EngineConfig(), b"k" * 32)
    messages = [RawMessage(e.model_dump_json().encode(), f"test:{i}") for i, e in enumerate(events)]
    # processed after the last report was published (a report dated later than its processing
    # would be refused: the event-time horizon)
    result = engine.process(messages, DETECTED + timedelta(days=30))
    stored = result.accepted
    assert len(stored) == len(events)
    # every target's chart as the core judged the returns (the report draws these rows)
    targets = [*result.targets, *engine.finish(DETECTED + timedelta(days=30)).targets]
    windows = _aggregates()
    sink.write(
        BatchResult(
            accepted=stored,
            windows=windows,
            alerts=raised,
            verdicts=verdicts(windows),
            targets=targets,
        ),
        DETECTED,
        token="t",
    )


def verdicts(windows: list[UnitWindowAggregate]) -> list[VerdictRow]:
    """The core's verdicts on these windows, as the engine would hand them to the store."""
    book = VerdictBook(DetectionConfig())
    series: dict[tuple[str, str], list[UnitWindowAggregate]] = {}
    for a in sorted(windows, key=lambda a: a.window.start):
        series.setdefault((a.org_id, a.unit_id), []).append(a)
    return book.judge(series, sorted({org for org, _ in series}))
