"""Contract events (CONTRACT.md §1) for one simulated organisation, from its plan.

Feedback arrives daily (quieter at weekends), incidents daily with a unit-week multiplier, target
returns monthly some days after the month ends (sometimes revised weeks later), and the safety
team answers a few alerts. Event times are instants inside their UTC day, written in UK local
time with its offset (+01:00 in summer), as a publishing service in England would.
"""

from __future__ import annotations

import bisect
import functools
import math
import random
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pipeline.core.alerts import AlertKind, alert_id_for
from pipeline.simulation.oracle import feedback_week, harm_week, spike_count
from pipeline.simulation.plan import DARK_SPOT, Effect, OrgPlan
from pipeline.simulation.targets import Calendar, next_month
from pipeline.simulation.units import (
    CATEGORIES,
    HARMFUL_MIX,
    WINTER_ACTIVITY,
    UnitNature,
    expit,
    negative_logit,
    rating_shares,
    winter,
)

Timed = tuple[float, dict[str, Any]]  # (UTC epoch seconds, event)
SPIKE_TAIL = 0.02
_DAY = 86400
_CHANNELS = ("sms", "web", "kiosk", "paper", "phone")
_CHANNEL_CUMULATIVE = (0.55, 0.70, 0.85, 0.95)
_HARMFUL = ("low", "moderate", "severe", "death")
_PRAISE = ("Staff were kind and explained everything.", "Seen quickly, very reassuring.")
_COMPLAINT = ("Waited hours with no update.", "Nobody told us what was happening.")
_THEMES_GOOD = (["staff_attitude"], ["communication"], ["cleanliness"])
_THEMES_BAD = (["waiting_time"], ["communication"], ["staffing", "waiting_time"])


def emit_org(
    rng: random.Random, org_id: str, plan: OrgPlan, cal: Calendar, scale: float, responses: int
) -> list[Timed]:
    """Every event of one organisation, with its event time (not yet in delivery order)."""
    emitter = _Emitter(rng, org_id)
    for unit, nature in enumerate(plan.natures):
        effects = [effect for effect in plan.effects if effect.unit == unit]
        for week in range(cal.weeks):
            active = [effect for effect in effects if effect.first <= week <= effect.last]
            emitter.feedback_week(nature, cal, week, active, scale)
            emitter.incident_week(nature, cal, week, active)
    for report in plan.reports:
        emitter.target_return(plan.natures[report.unit], report.month, report.numerator,
                              report.denominator, revised=report.revised_numerator)  # fmt: skip
    answered = [t for t in plan.truth if t.detectable and t.kind != DARK_SPOT][:responses]
    for truth in answered:
        start = datetime.combine(cal.week_start(truth.first), datetime.min.time(), UTC)
        alert_id = alert_id_for(
            AlertKind(truth.kind), org_id, plan.natures[truth.unit].profile.unit_id, start
        )
        emitter.alert_response(plan.natures[truth.unit], alert_id, start)
    return emitter.events


class _Emitter:
    def __init__(self, rng: random.Random, org_id: str) -> None:
        self._rng = rng
        self._org_id = org_id
        self.events: list[Timed] = []

    def _emit(
        self, moment: float, event_type: str, unit_id: str, source: str, **fields: Any
    ) -> None:
        self.events.append(
            (
                moment,
                {
                    "schema_version": 1,
                    "event_type": event_type,
                    "event_id": uuid4_text(self._rng.getrandbits(128)),
                    "org_id": self._org_id,
                    "unit_id": unit_id,
                    "occurred_at": rfc3339(moment),
                    "source": source,
                    **fields,
                },
            )
        )

    def feedback_week(
        self, nature: UnitNature, cal: Calendar, week: int, active: list[Effect], scale: float
    ) -> None:
        rng, profile = self._rng, nature.profile
        monday = cal.week_start(week)
        usual = negative_logit(nature, week, monday + timedelta(days=3))
        shift = sum(effect.feedback_logit for effect in active)
        share = min(expit(usual + rng.gauss(0.0, nature.feedback_spread) + shift), 0.95)
        cumulative = _cumulative(rating_shares(share, profile))
        responses: list[list[Any]] = []  # [moment, rating]
        for day in range(7):
            weekday_factor = profile.weekend_factor if day >= 5 else 1.0
            midnight = _epoch(monday + timedelta(days=day))
            for _ in range(_poisson(rng, profile.responses_per_day * weekday_factor * scale)):
                moment = midnight + rng.randrange(6 * 3600, 22 * 3600)
                responses.append([moment, _pick(rng, cumulative)])
        if any(effect.spike == "feedback" for effect in active):
            _force_negatives(rng, responses, nature, expit(usual))
        for moment, rating in sorted(responses):
            fields: dict[str, Any] = {"rating": rating}
            fields["channel"] = _CHANNELS[bisect.bisect(_CHANNEL_CUMULATIVE, rng.random())]
            if rng.random() < 0.12 and rating != 6:
                good = rating <= 2
                fields["comment"] = rng.choice(_PRAISE if good else _COMPLAINT)
                fields["themes"] = list(rng.choice(_THEMES_GOOD if good else _THEMES_BAD))
            self._emit(moment, "patient_feedback", profile.unit_id, "fft-gateway", **fields)

    def incident_week(
        self, nature: UnitNature, cal: Calendar, week: int, active: list[Effect]
    ) -> None:
        rng, profile = self._rng, nature.profile
        monday = cal.week_start(week)
        shape = nature.incident_shape
        harmful_level = rng.gammavariate(shape, 1 / shape) * math.prod(
            effect.harm_multiplier for effect in active
        )
        reporting_level = rng.gammavariate(shape, 1 / shape)
        incidents: list[tuple[float, str]] = []
        for day in range(7):
            date_ = monday + timedelta(days=day)
            activity = profile.activity_per_week / 7 * (1 + WINTER_ACTIVITY * winter(date_))
            midnight = _epoch(date_)
            harmful = _poisson(rng, activity * profile.harmful_per_1000 / 1000 * harmful_level)
            no_harm = _poisson(rng, activity * profile.no_harm_per_1000 / 1000 * reporting_level)
            incidents.extend((midnight + rng.randrange(_DAY), self._harm()) for _ in range(harmful))
            incidents.extend((midnight + rng.randrange(_DAY), "none") for _ in range(no_harm))
        if any(effect.spike == "harm" for effect in active):
            usual = profile.activity_per_week * profile.harmful_per_1000 / 1000
            wanted = spike_count(harm_week(usual, shape), SPIKE_TAIL)
            already = sum(harm != "none" for _, harm in incidents)
            start = _epoch(monday)
            incidents.extend(
                (start + rng.randrange(7 * _DAY), self._harm()) for _ in range(wanted - already)
            )
        for moment, harm in sorted(incidents):
            fields: dict[str, Any] = {
                "category": rng.choices(CATEGORIES, profile.category_weights)[0],
                "harm": harm,
                "reporter_role": rng.choice(profile.reporter_roles),
            }
            if rng.random() < 0.4:
                fields["description"] = (
                    f"{fields['category'].replace('_', ' ')} incident, {harm} harm"
                )
            self._emit(moment, "incident_report", profile.unit_id, "lfpse-bridge", **fields)

    def _harm(self) -> str:
        return self._rng.choices(_HARMFUL, HARMFUL_MIX)[0]

    def target_return(
        self, nature: UnitNature, month: date, numerator: int, denominator: int, revised: int | None
    ) -> None:
        profile = nature.profile
        period_end = next_month(month)
        fields = {
            "metric": profile.metric,
            "period_start": rfc3339(_epoch(month), utc=True),
            "period_end": rfc3339(_epoch(period_end), utc=True),
            "numerator": numerator,
            "denominator": denominator,
            "target": profile.target,
            "higher_is_better": True,
        }
        published = _epoch(period_end) + self._rng.randrange(4 * _DAY, 12 * _DAY)
        self._emit(published, "target_metric", profile.unit_id, "performance-returns", **fields)
        if revised is not None:
            later = published + self._rng.randrange(14 * _DAY, 35 * _DAY)
            fields["numerator"] = revised
            self._emit(later, "target_metric", profile.unit_id, "performance-returns", **fields)

    def alert_response(self, nature: UnitNature, alert_id: str, start: datetime) -> None:
        unit_id = nature.profile.unit_id
        moment = start.timestamp() + 9 * _DAY + self._rng.randrange(8 * 3600, 17 * 3600)
        for response, days in (("acknowledged", 0), ("action_taken", 7)):
            self._emit(moment + days * _DAY, "alert_response", unit_id, "quality-team",
                       alert_id=alert_id, response=response, responder_role="matron")  # fmt: skip


def _force_negatives(
    rng: random.Random, responses: list[list[Any]], nature: UnitNature, usual: float
) -> None:
    """Turn views into poor ratings until the week holds a 1-in-50 count of them."""
    views = [response for response in responses if response[1] != 6]
    week = feedback_week(len(views), usual, nature.feedback_spread)
    wanted = spike_count(week, SPIKE_TAIL) if views else 0
    others = [response for response in views if response[1] < 4]
    rng.shuffle(others)
    for response in others[: max(0, wanted - (len(views) - len(others)))]:
        response[1] = rng.choice((4, 5))


def _cumulative(shares: tuple[float, ...]) -> list[float]:
    total, running = sum(shares), 0.0
    cumulative = []
    for share in shares:
        running += share / total
        cumulative.append(running)
    return cumulative


def _pick(rng: random.Random, cumulative: list[float]) -> int:
    draw = rng.random()
    for rating, bound in enumerate(cumulative, start=1):
        if draw < bound:
            return rating
    return len(cumulative)


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    threshold, count, product = math.exp(-mean), 0, rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


def _epoch(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def uuid4_text(bits: int) -> str:
    """The text of `uuid.UUID(int=bits, version=4)`, without building the object (it is made
    for every event)."""
    value = (bits & ~(0xF000 << 64) & ~(0xC000 << 48)) | (0x4000 << 64) | (0x8000 << 48)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def rfc3339(moment: float, *, utc: bool = False) -> str:
    """RFC 3339 with seconds and an offset: UK local time unless `utc`."""
    offset = 0 if utc else _uk_offset_hours(moment)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment + offset * 3600)) + (
        "+01:00" if offset else "+00:00"
    )


def _uk_offset_hours(moment: float) -> int:
    """1 during British Summer Time (from 01:00 UTC on the last Sunday of March to 01:00 UTC on
    the last Sunday of October), else 0."""
    begins, ends = _summer_time(time.gmtime(moment).tm_year)
    return 1 if begins <= moment < ends else 0


@functools.cache
def _summer_time(year: int) -> tuple[float, float]:
    return _last_sunday(year, 3), _last_sunday(year, 10)


def _last_sunday(year: int, month: int) -> float:
    last = datetime(year, month, 31, 1, tzinfo=UTC)
    return (last - timedelta(days=(last.weekday() + 1) % 7)).timestamp()
