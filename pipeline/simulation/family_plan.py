"""Where the family's episodes and decoys go, whether each is detectable, and the truth.

See `pipeline.simulation.family` for the specification. Every planted thing takes its own unit
(a unit carries at most one), and none starts before `warmup_weeks`.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

from pipeline.core.alerts import AlertKind
from pipeline.simulation.family import HARMFUL_SHARE, FamilyConfig, Unit
from pipeline.simulation.family_near import plant_near_target
from pipeline.simulation.trust import TruthEpisode

DETECTABLE_SD = 5.5
SILENCE_DETECTABLE_SD = 3.0
INCIDENT_CV = 0.25
DONT_KNOW = 0.03
# Expected attainment must clear the target by this much in every week of a "met" episode
# (weekly attainment varies with sd 0.008).
MET_BUFFER = 0.015
REPORTING_SILENCE = "reporting_silence"
# The usual harmful incidents a week of a unit a sustained harm rise is planted on.
SUSTAINED_HARMFUL = (0.8, 3.0)


def winter(day: datetime) -> float:
    """0 from mid-April to mid-October, rising to 1 in mid-January."""
    phase = 2 * math.pi * (day.timetuple().tm_yday - 15) / 365.25
    return max(0.0, math.cos(phase)) ** 2


def expit(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


class Season:
    """One organisation's winter: how far experience (logit) and attainment dip."""

    def __init__(self, rng: random.Random, start: datetime, weeks: int) -> None:
        self.experience = rng.uniform(0.15, 0.35)
        self.attainment = rng.uniform(0.02, 0.05)
        self.level = [winter(start + timedelta(weeks=w, days=3)) for w in range(weeks)]

    def positive(self, unit: Unit, week: int) -> float:
        """The unit's usual positive share in a week (before its planted shifts and noise)."""
        usual = logit(unit.positive) + unit.drift * week - self.experience * self.level[week]
        return expit(usual)

    def attainment_of(self, unit: Unit, week: int) -> float:
        return unit.target + unit.margin - self.attainment * self.level[week]


def plan_org(
    rng: random.Random, config: FamilyConfig, units: list[Unit], season: Season, dip: bool,
    start: datetime,
) -> list[TruthEpisode]:  # fmt: skip
    """Plant episodes and decoys on the units (in place) and return their truth. Near-target
    units (`Unit.near_target`) get only their own episodes, planted last."""
    planner = _Planner(rng, config, units, season, start)
    near = [unit for unit in units if unit.near_target]
    planner.used.update(unit.unit_id for unit in near)
    if dip:
        planner.org_dip()
    for _ in range(config.sustained_harm_rises):
        planner.sustained_harm_rise()
    for _ in range(config.divergences_per_org):
        planner.divergence()
    planner.harm_rise()
    planner.silence()
    planner.both_dip()
    planner.single_bad_week()
    if near:
        plant_near_target(planner, near, DETECTABLE_SD)
    return planner.truth


class _Planner:
    def __init__(
        self, rng: random.Random, config: FamilyConfig, units: list[Unit], season: Season,
        start: datetime,
    ) -> None:  # fmt: skip
        self.rng, self.config, self.units, self.season = rng, config, units, season
        self.start = start
        self.used: set[str] = set()
        self.blocked: set[int] = set()  # weeks of an organisation-wide dip
        self.truth: list[TruthEpisode] = []

    def _record(
        self, kind: AlertKind | str, unit: Unit, first: int, length: int, detectable: bool,
        decoy: bool, description: str, evident: int | None = None,
    ) -> None:  # fmt: skip
        self.truth.append(
            TruthEpisode(
                kind=AlertKind(kind),
                org_id=unit.org_id,
                unit_id=unit.unit_id,
                start=self.start + timedelta(weeks=first),
                end=self.start + timedelta(weeks=first + length),
                detectable=detectable,
                decoy=decoy,
                description=description,
                evident=None if evident is None else self.start + timedelta(weeks=evident),
            )
        )

    def _met(self, unit: Unit, first: int, length: int) -> bool:
        return all(
            self.season.attainment_of(unit, w) + unit.attainment_shift[w]
            >= unit.target + MET_BUFFER
            for w in range(first, first + length)
        )

    def _pick(
        self, length: int, met: bool, responses: tuple[float, float] = (0.0, math.inf),
        harmful: tuple[float, float] = (0.0, math.inf),
    ) -> tuple[Unit, int] | None:  # fmt: skip
        """A free unit (in the response and usual harmful-incident ranges if one is) and a start
        week clear of the dip."""
        free = [u for u in self.units if u.unit_id not in self.used]
        ranged = [u for u in free if responses[0] <= u.responses <= responses[1]
                  and harmful[0] <= u.incidents * HARMFUL_SHARE <= harmful[1]]  # fmt: skip
        for _ in range(40):
            if not free:
                return None
            unit = self.rng.choice(ranged or free)
            first = self.rng.randint(self.config.warmup_weeks, self.config.weeks - length - 3)
            weeks = set(range(first - 2, first + length + 2))
            if weeks & self.blocked or (met and not self._met(unit, first, length)):
                continue
            self.used.add(unit.unit_id)
            return unit, first
        return None

    def divergence(self) -> None:
        length = self.rng.randint(5, 10)
        picked = self._pick(length, met=True, responses=(25.0, 70.0))
        if picked is None:
            return
        unit, first = picked
        drop = self.rng.uniform(0.06, 0.25)
        for w in range(first, first + length):
            unit.feedback_shift[w] = -min(drop, self.season.positive(unit, w) - 0.15)
        sd = self.feedback_shift_sd(unit, first, length)
        evident = next(
            (w for w in range(first, first + length)
             if self.feedback_shift_sd(unit, first, w - first + 1) >= DETECTABLE_SD), None,
        )  # fmt: skip
        self._record(AlertKind.TARGET_EXPERIENCE_DIVERGENCE, unit, first, length,
                     sd >= DETECTABLE_SD, False,
                     f"positive share -{drop:.2f} for {length} weeks ({sd:.1f} sd pooled)",
                     evident)  # fmt: skip
        self._record(AlertKind.MASKED_DARK_SPOT, unit, first, length, False, False, "not scored")

    def harm_rise(self) -> None:
        length = self.rng.randint(4, 8)
        planted = self._plant_harm(length)
        if planted is None:
            return
        unit, first, factor = planted
        mean = [unit.incidents * unit.size(w) * HARMFUL_SHARE for w in range(first, first + length)]
        pooled = _pooled([((factor - 1.0) * m, factor * m + (INCIDENT_CV * factor * m) ** 2)
                          for m in mean])  # fmt: skip
        text = f"harmful incidents x{factor:.1f} for {length} weeks ({pooled[-1]:.1f} sd pooled)"
        self._record_harm(unit, first, length, pooled, text)

    def sustained_harm_rise(self) -> None:
        low, high = SUSTAINED_HARMFUL
        if not any(low <= u.incidents * HARMFUL_SHARE <= high
                   for u in self.units if u.unit_id not in self.used):  # fmt: skip
            return
        length = self.rng.randint(7, 12)
        planted = self._plant_harm(length, SUSTAINED_HARMFUL)
        if planted is None:
            return
        unit, first, factor = planted
        pooled = sustained_rise_sd(unit, first, length, factor)
        usual = unit.incidents * HARMFUL_SHARE
        text = (
            f"sustained: harmful incidents x{factor:.1f} for {length} weeks at {usual:.1f} a week"
            f" ({pooled[-1]:.1f} usual sd pooled)"
        )
        self._record_harm(unit, first, length, pooled, text)

    def _plant_harm(
        self, length: int, harmful: tuple[float, float] = (0.0, math.inf)
    ) -> tuple[Unit, int, float] | None:
        """Raise a free unit's harmful incidents by a drawn factor (x1.5 to x3) for `length`
        weeks: the unit, the first week and the factor, or None if no unit is free."""
        picked = self._pick(length, met=False, harmful=harmful)
        if picked is None:
            return None
        unit, first = picked
        factor = self.rng.uniform(1.5, 3.0)
        for w in range(first, first + length):
            unit.harm_factor[w] = factor
        return unit, first, factor

    def _record_harm(
        self, unit: Unit, first: int, length: int, pooled: list[float], text: str
    ) -> None:
        """Record a planted harm rise: detectable when its pooled sd reaches the line."""
        detectable = pooled[-1] >= DETECTABLE_SD
        evident = _evident(pooled, first, DETECTABLE_SD)
        self._record(AlertKind.SAFETY_SIGNAL, unit, first, length, detectable, False, text,
                     evident)  # fmt: skip
        # In every week the unit meets its target the rise IS a divergence (harm above its own
        # limits while targets are met), so one raised then is no false alarm; it is required
        # (detectable) only when the target is met throughout.
        self._record(AlertKind.TARGET_EXPERIENCE_DIVERGENCE, unit, first, length,
                     detectable and self._met(unit, first, length), False, text,
                     evident)  # fmt: skip
        self._record(AlertKind.MASKED_DARK_SPOT, unit, first, length, False, False, "not scored")

    def silence(self) -> None:
        length = self.rng.randint(4, 8)
        picked = self._pick(length, met=False)
        if picked is None:
            return
        unit, first = picked
        kept = self.rng.uniform(0.0, 0.2)
        for w in range(first, first + length):
            unit.reporting[w] = kept
        mean = [unit.incidents * unit.size(w) for w in range(first, first + length)]
        pooled = _pooled([((1.0 - kept) * m, m + (INCIDENT_CV * m) ** 2) for m in mean])
        sd = pooled[-1]
        self._record(REPORTING_SILENCE, unit, first, length, sd >= SILENCE_DETECTABLE_SD, False,
                     f"reports fall to {kept:.0%} for {length} weeks ({sd:.1f} sd short)",
                     _evident(pooled, first, SILENCE_DETECTABLE_SD))  # fmt: skip

    def both_dip(self) -> None:
        length = self.rng.randint(4, 6)
        picked = self._pick(length, met=False)
        if picked is None:
            return
        unit, first = picked
        # A monthly return averages its month: the dip covers whole months, so that every
        # return the episode touches is missed.
        missed = range(first, first + length)
        if unit.monthly:
            missed = range(max(0, first - 4), min(self.config.weeks, first + length + 4))
        for w in missed:
            unit.attainment_shift[w] = -(max(unit.margin, 0.0) + 0.05)
        for w in range(first, first + length):
            unit.feedback_shift[w] = -0.15
        self._record(AlertKind.TARGET_EXPERIENCE_DIVERGENCE, unit, first, length, False, True,
                     "target and experience dip together")  # fmt: skip

    def single_bad_week(self) -> None:
        picked = self._pick(1, met=False)
        if picked is None:
            return
        unit, first = picked
        unit.spike_week = first
        self._record(AlertKind.TARGET_EXPERIENCE_DIVERGENCE, unit, first, 1, False, True,
                     "a single bad week of feedback at about a 1-in-50 count")  # fmt: skip

    def org_dip(self) -> None:
        length = 4
        first = self.rng.randint(self.config.warmup_weeks + 4, self.config.weeks - length - 4)
        self.blocked = set(range(first - 3, first + length + 3))
        for unit in self.units:
            margin = 4 if unit.monthly else 0  # whole months of returns missed, as in both_dip
            for w in range(first - margin, min(self.config.weeks, first + length + margin)):
                unit.attainment_shift[w] = -(max(unit.margin, 0.0) + 0.05)
            for w in range(first, first + length):
                unit.feedback_shift[w] = -0.10
            for kind in (AlertKind.TARGET_EXPERIENCE_DIVERGENCE, AlertKind.MASKED_DARK_SPOT):
                self._record(kind, unit, first, length, False, True,
                             "the whole organisation dips while missing its targets")  # fmt: skip

    def feedback_shift_sd(self, unit: Unit, first: int, length: int) -> float:
        """The episode's expected shift of its pooled not-positive count, in sd of that count."""
        shift = variance = 0.0
        for w in range(first, first + length):
            views = unit.responses * unit.size(w) * (1.0 - DONT_KNOW)
            usual = 1.0 - self.season.positive(unit, w)
            drop = -unit.feedback_shift[w]
            shifted = usual + drop
            between = usual * (1.0 - usual) * unit.spread
            shift += views * drop
            variance += views * shifted * (1.0 - shifted) + (views * between) ** 2
        return shift / math.sqrt(variance)


def sustained_rise_sd(unit: Unit, first: int, length: int, factor: float) -> list[float]:
    """A sustained harm rise's pooled shift over its first 1, 2, ... weeks, in sd of the unit's
    usual pooled harmful count (Poisson with the gamma week-to-week variation, at factor 1)."""
    mean = [unit.incidents * unit.size(w) * HARMFUL_SHARE for w in range(first, first + length)]
    return _pooled([((factor - 1.0) * m, m + (INCIDENT_CV * m) ** 2) for m in mean])


def _pooled(weeks: list[tuple[float, float]]) -> list[float]:
    """The pooled shift, in sd of the pooled count, over the first 1, 2, ... weeks of an
    episode, from each week's (expected shift, variance)."""
    pooled, shift, variance = [], 0.0, 0.0
    for week_shift, week_variance in weeks:
        shift += week_shift
        variance += week_variance
        pooled.append(shift / math.sqrt(variance))
    return pooled


def _evident(pooled: list[float], first: int, threshold: float) -> int | None:
    return next((first + i for i, sd in enumerate(pooled) if sd >= threshold), None)
