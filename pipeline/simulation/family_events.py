"""The family's events (contract §1 JSON objects) and their delivery, and `simulate_family`.

Times are written in UTC ("+00:00"). Delivery: each event arrives 0 to `jitter_days` after it
happened, re-graded incidents 7 to 30 days after the first version, duplicates up to 2 days
after the original; events are delivered in order of arrival.
"""

from __future__ import annotations

import bisect
import math
import random
import time
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from typing import Any

from pipeline.simulation.family import HARM_MIX, FamilyConfig, FamilyTrust, Unit, draw_units
from pipeline.simulation.family_near import draw_near_units
from pipeline.simulation.family_plan import DONT_KNOW, INCIDENT_CV, Season, expit, logit, plan_org
from pipeline.simulation.trust import TruthEpisode

_DAY = 86_400.0
_CATEGORIES = ("medication", "fall", "pressure_ulcer", "infection", "delay_in_care", "other")
_HARM_LEVELS = tuple(level for level, _ in HARM_MIX)
_HARM_CUMULATIVE = tuple(accumulate(share for _, share in HARM_MIX))
_HARMFUL_CUMULATIVE = tuple(accumulate(share / (1.0 - HARM_MIX[0][1]) for _, share in HARM_MIX[1:]))
Timed = tuple[float, dict[str, Any]]  # (arrival, event)


def plan_family(
    config: FamilyConfig, rng: random.Random
) -> tuple[list[TruthEpisode], list[Unit], dict[str, Season]]:
    """The family's planning (units, seasons and planted episodes), the first draws of `rng`:
    `simulate_family` then draws the events from where it leaves `rng`."""
    start = datetime.combine(config.start, datetime.min.time(), UTC)
    truth: list[TruthEpisode] = []
    units: list[Unit] = []
    seasons: dict[str, Season] = {}
    for index in range(config.orgs):
        org_units = draw_units(rng, config, index)
        if config.near_target_per_org:
            org_units += draw_near_units(rng, config, org_units[0].org_id)
        season = Season(rng, start, config.weeks)
        truth.extend(plan_org(rng, config, org_units, season, index % 3 == 0, start))
        seasons[org_units[0].org_id] = season
        units.extend(org_units)
    return truth, units, seasons


def simulate_family(config: FamilyConfig) -> FamilyTrust:
    """One trust of the family, deterministic from `config.seed`."""
    rng = random.Random(f"family-{config.seed}")
    start = datetime.combine(config.start, datetime.min.time(), UTC)
    truth, units, seasons = plan_family(config, rng)
    emitter = _Emitter(rng, config, start)
    for unit in units:
        emitter.unit(unit, seasons[unit.org_id])
    events = [event for _, event in sorted(emitter.timed, key=lambda pair: pair[0])]
    return FamilyTrust(config, events, truth, tuple((u.org_id, u.unit_id) for u in units))


class _Emitter:
    def __init__(self, rng: random.Random, config: FamilyConfig, start: datetime) -> None:
        self.rng, self.config = rng, config
        self.start = start.timestamp()
        self.timed: list[Timed] = []

    def _deliver(self, moment: float, event: dict[str, Any], delay_days: float) -> None:
        rng = self.rng
        arrival = moment + rng.uniform(0.0, delay_days * _DAY)
        self.timed.append((arrival, event))
        if rng.random() < self.config.duplicates:
            self.timed.append((arrival + rng.uniform(0.0, 2 * _DAY), event))

    def _event(
        self, moment: float, kind: str, unit: Unit, source: str, **fields: Any
    ) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "event_type": kind,
            "event_id": _uuid4(self.rng.getrandbits(128)),
            "org_id": unit.org_id,
            "unit_id": unit.unit_id,
            "occurred_at": _rfc3339(moment),
            "source": source,
            **fields,
        }

    def unit(self, unit: Unit, season: Season) -> None:
        rng = self.rng
        attainment = []
        for week in range(self.config.weeks):
            monday = self.start + week * 7 * _DAY
            self._feedback(unit, season, week, monday)
            self._incidents(unit, week, monday)
            value = season.attainment_of(unit, week) + unit.attainment_shift[week]
            attainment.append(min(max(value + rng.gauss(0.0, 0.008), 0.0), 1.0))
        self._targets(unit, attainment)

    def _feedback(self, unit: Unit, season: Season, week: int, monday: float) -> None:
        rng = self.rng
        usual = season.positive(unit, week)
        noise = rng.gauss(0.0, unit.spread)
        responses = poisson(rng, unit.responses * unit.size(week) * rng.gammavariate(100, 0.01))
        shift = unit.feedback_shift[week]
        if week == unit.spike_week:
            # About a 1-in-50 week: noise at +2 sd of the unit's spread, on the worse side.
            noise = -2.05 * unit.spread
        positive = min(max(expit(logit(usual) + noise) + shift, 0.02), 0.98)
        neutral = (1.0 - positive) * unit.neutral
        shares = (positive * 0.55, positive * 0.45, neutral)
        cumulative = list(accumulate(s * (1.0 - DONT_KNOW) for s in shares))
        negative_left = 1.0 - DONT_KNOW - cumulative[-1]
        cumulative += [cumulative[-1] + negative_left * 0.6, 1.0 - DONT_KNOW]
        for _ in range(responses):
            moment = monday + rng.randrange(7) * _DAY + rng.uniform(7 * 3600, 22 * 3600)
            rating = bisect.bisect(cumulative, rng.random()) + 1
            fields: dict[str, Any] = {
                "rating": min(rating, 6),
                "channel": rng.choice(("sms", "web")),
            }
            self._deliver(moment, self._event(moment, "patient_feedback", unit, "fft", **fields),
                          self.config.jitter_days)  # fmt: skip

    def _incidents(self, unit: Unit, week: int, monday: float) -> None:
        rng = self.rng
        shape = 1.0 / (INCIDENT_CV * INCIDENT_CV)
        level = rng.gammavariate(shape, 1.0 / shape) * unit.size(week) * unit.reporting[week]
        base = unit.incidents * level
        harmful_extra = base * (1.0 - HARM_MIX[0][1]) * (unit.harm_factor[week] - 1.0)
        grades = [_pick(rng, _HARM_CUMULATIVE, _HARM_LEVELS) for _ in range(poisson(rng, base))]
        grades += [
            _pick(rng, _HARMFUL_CUMULATIVE, _HARM_LEVELS[1:])
            for _ in range(poisson(rng, harmful_extra))
        ]
        for harm in grades:
            moment = monday + rng.uniform(0.0, 7 * _DAY)
            event = self._event(moment, "incident_report", unit, "risk-system",
                                category=rng.choice(_CATEGORIES), harm=harm)  # fmt: skip
            self._deliver(moment, event, self.config.jitter_days)
            if rng.random() < self.config.regraded:
                level_index = _HARM_LEVELS.index(harm)
                regraded = _HARM_LEVELS[max(0, min(4, level_index + rng.choice((-1, 1))))]
                later = moment + rng.uniform(7 * _DAY, 30 * _DAY)
                self.timed.append((later, {**event, "harm": regraded}))

    def _targets(self, unit: Unit, attainment: list[float]) -> None:
        rng = self.rng
        first = datetime.fromtimestamp(self.start, UTC).date()
        weekly = [
            unit.activity * unit.size(w) * rng.uniform(0.9, 1.1) for w in range(len(attainment))
        ]
        if not unit.monthly:
            for week, (share, activity) in enumerate(zip(attainment, weekly, strict=True)):
                begin = self.start + week * 7 * _DAY
                self._return(unit, begin, begin + 7 * _DAY, share, activity, 1.0, 4.0)
            return
        month = date(first.year, first.month, 1)
        end_day = first + timedelta(weeks=len(attainment))
        while month < end_day:
            following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
            weeks = [w for w in range(len(attainment))
                     if month <= first + timedelta(weeks=w, days=3) < following]  # fmt: skip
            if weeks:
                activity = sum(weekly[w] for w in weeks) * 30.4 / (7 * len(weeks))
                share = sum(attainment[w] for w in weeks) / len(weeks)
                begin = datetime(month.year, month.month, 1, tzinfo=UTC).timestamp()
                end = datetime(following.year, following.month, 1, tzinfo=UTC).timestamp()
                self._return(unit, begin, end, share, activity, 5.0, 12.0)
            month = following

    def _return(
        self, unit: Unit, begin: float, end: float, share: float, activity: float,
        after_min: float, after_max: float,
    ) -> None:  # fmt: skip
        denominator = max(1, round(activity))
        fields = {
            "metric": unit.metric,
            "period_start": _rfc3339(begin),
            "period_end": _rfc3339(end),
            "numerator": min(denominator, round(share * denominator)),
            "denominator": denominator,
            "target": unit.target,
        }
        published = end + self.rng.uniform(after_min * _DAY, after_max * _DAY)
        self._deliver(
            published, self._event(published, "target_metric", unit, "returns", **fields), 0.0
        )


def _pick(rng: random.Random, cumulative: tuple[float, ...], values: tuple[str, ...]) -> str:
    return values[min(bisect.bisect(cumulative, rng.random() * cumulative[-1]), len(values) - 1)]


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (normal approximation above a mean of 40), as the family draws counts."""
    if mean <= 0.0:
        return 0
    if mean > 40.0:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _uuid4(bits: int) -> str:
    value = (bits & ~(0xF000 << 64) & ~(0xC000 << 48)) | (0x4000 << 64) | (0x8000 << 48)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _rfc3339(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(moment))
