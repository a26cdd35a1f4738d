"""What happens to one simulated organisation: its monthly target returns, the episodes injected
into its units, and the decoys, with the ground truth each implies.

Ground truth is written per kind: one injected deterioration can be a divergence (if the unit
meets its targets throughout), a safety signal (if harm rises) and a masked dark spot (if the
organisation's pooled figure is not expected to move much), each marked detectable or not by
`pipeline.simulation.oracle`. Decoys are truth records with `decoy=True` for the kind they might
tempt a detector into: a unit whose experience falls while it misses its target, a single bad
week of noise, and a dip across the whole organisation (targets missed by every unit).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from pipeline.simulation.oracle import (
    CLEAR_POWER,
    DETECTABLE_POWER,
    MASKED_Z,
    SUBTLE_POWER,
    feedback_power,
    feedback_shift,
    harm_multiplier,
    harm_power,
)
from pipeline.simulation.targets import Calendar, Report, monthly_reports, weekly_met
from pipeline.simulation.units import (
    WINTER_ACTIVITY,
    UnitNature,
    expit,
    negative_logit,
    winter,
)

DIVERGENCE, SAFETY, DARK_SPOT = "target_experience_divergence", "safety_signal", "masked_dark_spot"
ORG_DIP_LOGIT = 0.6
ORG_DIP_ATTAINMENT = 0.12
DECOY_ATTAINMENT_DIP = 0.09


@dataclass(slots=True)
class Effect:
    """Something done to one unit over weeks [first, last]."""

    unit: int
    first: int
    last: int
    feedback_logit: float = 0.0
    harm_multiplier: float = 1.0
    spike: str = ""  # "feedback" or "harm": one week forced to a 1-in-50 count
    # For an injected deterioration: what happened, and which part an oracle would see.
    story: str = ""
    feedback_detectable: bool = False
    harm_detectable: bool = False


@dataclass(frozen=True, slots=True)
class Truth:
    kind: str
    unit: int
    first: int
    last: int
    detectable: bool
    decoy: bool
    description: str


@dataclass(slots=True)
class OrgPlan:
    natures: list[UnitNature]
    reports: list[Report] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    truth: list[Truth] = field(default_factory=list)


def plan_org(
    rng: random.Random,
    natures: list[UnitNature],
    cal: Calendar,
    *,
    warmup: int,
    deteriorations: int,
    org_dip: bool,
    scale: float,
) -> OrgPlan:
    """Returns, effects and truth for one organisation (see the module docstring)."""
    plan = OrgPlan(natures)
    months = [m for m in cal.months() if cal.weeks_inside(m) and cal.weeks_inside(m)[0] >= warmup]
    quiet_months = [m for m in months if winter(m + timedelta(days=14)) < 0.2]
    dips: dict[tuple[int, date], float] = {}
    decoy_unit, decoy_month = rng.randrange(len(natures)), rng.choice(quiet_months)
    dips[(decoy_unit, decoy_month)] = DECOY_ATTAINMENT_DIP
    dip_month = None
    if org_dip:
        dip_month = rng.choice([m for m in quiet_months if m != decoy_month])
        for unit in range(len(natures)):
            dips[(unit, dip_month)] = ORG_DIP_ATTAINMENT
    plan.reports = monthly_reports(rng, natures, cal, dips)
    met = weekly_met(plan.reports, natures, cal)
    busy: list[set[int]] = [set() for _ in natures]
    if dip_month is not None:
        inside = cal.weeks_inside(dip_month)
        for unit in range(len(natures)):
            plan.effects.append(Effect(unit, inside[0], inside[-1], feedback_logit=ORG_DIP_LOGIT))
            _occupy(busy[unit], inside[0], inside[-1])
            for kind in (DIVERGENCE, DARK_SPOT):
                plan.truth.append(
                    Truth(
                        kind,
                        unit,
                        inside[0],
                        inside[-1],
                        False,
                        True,
                        "the whole organisation dips together in a month of "
                        "missed targets (a surge)",
                    )
                )
    inside = [w for w in cal.weeks_inside(decoy_month) if w not in busy[decoy_unit]]
    if len(inside) >= 3:
        _inject(plan, rng, busy, cal, met, scale, decoy_unit, inside[0], inside[-1], "feedback")
    for _ in range(deteriorations):
        _place(plan, rng, busy, cal, met, scale, warmup)
    _place_spike(plan, rng, busy, cal, met, warmup)
    _dark_spot_truth(plan, cal, scale)
    return plan


def _occupy(busy: set[int], first: int, last: int) -> None:
    # A margin after each effect keeps episodes apart, so each is judged on a clean baseline.
    busy.update(range(first - 2, last + 8))


def _place(
    plan: OrgPlan,
    rng: random.Random,
    busy: list[set[int]],
    cal: Calendar,
    met: list[list[bool]],
    scale: float,
    warmup: int,
) -> None:
    """One deterioration at a random free unit and time, with targets met throughout or missed
    throughout (a mixed episode would be neither a clean divergence nor a clean decoy)."""
    for _ in range(100):
        unit = rng.randrange(len(plan.natures))
        length = rng.randint(3, 8)
        first = rng.randint(warmup, cal.weeks - length - 1)
        last = first + length - 1
        if busy[unit].intersection(range(first, last + 1)):
            continue
        if len({met[unit][week] for week in range(first, last + 1)}) != 1:
            continue
        what = rng.choices(("feedback", "harm", "both"), weights=(5, 3, 2))[0]
        _inject(plan, rng, busy, cal, met, scale, unit, first, last, what)
        return


def _inject(
    plan: OrgPlan,
    rng: random.Random,
    busy: list[set[int]],
    cal: Calendar,
    met: list[list[bool]],
    scale: float,
    unit: int,
    first: int,
    last: int,
    what: str,
) -> None:
    """A clear (or, one time in five, subtle) deterioration of feedback, harm or both, with its
    divergence and safety truth; dark-spot truth waits for every effect (`_dark_spot_truth`)."""
    nature = plan.natures[unit]
    subtle = rng.random() < 0.2
    power = SUBTLE_POWER if subtle else CLEAR_POWER
    day = cal.week_start(first)
    effect = Effect(unit, first, last)
    parts = []
    if what in ("feedback", "both"):
        responses = nature.responses_per_week * scale
        share = expit(negative_logit(nature, first, day))
        shift = feedback_shift(responses, share, nature.feedback_spread, power)
        effect.feedback_logit = shift
        seen = feedback_power(responses, share, nature.feedback_spread, shift)
        effect.feedback_detectable = seen >= DETECTABLE_POWER and not subtle
        shifted = expit(negative_logit(nature, first, day) + shift)
        parts.append(f"negative feedback rises from {share:.0%} to {shifted:.0%}")
    if what in ("harm", "both"):
        mean = _weekly_harmful(nature, day)
        effect.harm_multiplier = harm_multiplier(mean, nature.incident_shape, power)
        seen = harm_power(mean, nature.incident_shape, effect.harm_multiplier)
        effect.harm_detectable = seen >= DETECTABLE_POWER and not subtle
        parts.append(f"harmful incidents × {effect.harm_multiplier:g} (usually {mean:.1f} a week)")
    effect.story = f"{nature.profile.unit_id}: {' and '.join(parts)} for {last - first + 1} weeks"
    plan.effects.append(effect)
    _occupy(busy[unit], first, last)
    detectable = effect.feedback_detectable or effect.harm_detectable
    if met[unit][first]:
        story = f"{effect.story} while it meets its target"
        plan.truth.append(Truth(DIVERGENCE, unit, first, last, detectable, False, story))
    else:
        story = f"{effect.story} while it misses its target: not a divergence"
        plan.truth.append(Truth(DIVERGENCE, unit, first, last, False, True, story))
    if what != "feedback":
        plan.truth.append(Truth(SAFETY, unit, first, last, effect.harm_detectable, False, story))


def _dark_spot_truth(plan: OrgPlan, cal: Calendar, scale: float) -> None:
    """A deterioration is a detectable dark spot when an oracle would see it and, in every
    week, the organisation's pooled figure (with every concurrent effect) barely moves."""
    for effect in plan.effects:
        if not effect.story:
            continue
        feedback = effect.feedback_detectable and all(
            _masked_feedback(plan, cal, week, scale)
            for week in range(effect.first, effect.last + 1)
        )
        harm = effect.harm_detectable and all(
            _masked_harm(plan, cal, week) for week in range(effect.first, effect.last + 1)
        )
        story = effect.story
        if feedback or harm:
            story += "; the organisation's pooled figure barely moves"
        plan.truth.append(
            Truth(DARK_SPOT, effect.unit, effect.first, effect.last, feedback or harm, False, story)
        )


def _place_spike(
    plan: OrgPlan,
    rng: random.Random,
    busy: list[set[int]],
    cal: Calendar,
    met: list[list[bool]],
    warmup: int,
) -> None:
    """A single bad week of noise: a count that happens by chance about once a year."""
    for _ in range(100):
        unit = rng.randrange(len(plan.natures))
        week = rng.randint(warmup, cal.weeks - 2)
        if week in busy[unit]:
            continue
        what = rng.choice(("feedback", "harm"))
        plan.effects.append(Effect(unit, week, week, spike=what))
        _occupy(busy[unit], week, week)
        kinds = (DIVERGENCE, DARK_SPOT) if what == "feedback" else (SAFETY, DIVERGENCE, DARK_SPOT)
        name = plan.natures[unit].profile.unit_id
        for kind in kinds:
            plan.truth.append(
                Truth(
                    kind,
                    unit,
                    week,
                    week,
                    False,
                    True,
                    f"{name}: one bad week of {what} by chance (1 in 50)",
                )
            )
        return


def _weekly_harmful(nature: UnitNature, day: date) -> float:
    profile = nature.profile
    activity = profile.activity_per_week * (1 + WINTER_ACTIVITY * winter(day))
    return activity * profile.harmful_per_1000 / 1000


def _masked_feedback(plan: OrgPlan, cal: Calendar, week: int, scale: float) -> bool:
    """Whether the pooled negative share moves by under MASKED_Z of its sd in `week`."""
    day = cal.week_start(week)
    volumes = [nature.responses_per_week * scale for nature in plan.natures]
    usual = [negative_logit(nature, week, day) for nature in plan.natures]
    shares = [expit(value) for value in usual]
    total = sum(volumes)
    pooled = sum(v * s for v, s in zip(volumes, shares, strict=True)) / total
    variance = pooled * (1 - pooled) / total + sum(
        (v / total * s * (1 - s) * nature.feedback_spread) ** 2
        for v, s, nature in zip(volumes, shares, plan.natures, strict=True)
    )
    rise = sum(
        volumes[e.unit] * (expit(usual[e.unit] + e.feedback_logit) - shares[e.unit])
        for e in plan.effects
        if e.first <= week <= e.last
    )
    return rise / total <= MASKED_Z * math.sqrt(variance)


def _masked_harm(plan: OrgPlan, cal: Calendar, week: int) -> bool:
    """Whether the pooled harmful count moves by under MASKED_Z of its sd in `week`."""
    day = cal.week_start(week)
    means = [_weekly_harmful(nature, day) for nature in plan.natures]
    variance = sum(m + m * m / n.incident_shape for m, n in zip(means, plan.natures, strict=True))
    rise = sum(
        means[e.unit] * (e.harm_multiplier - 1) for e in plan.effects if e.first <= week <= e.last
    )
    return rise <= MASKED_Z * math.sqrt(variance)
