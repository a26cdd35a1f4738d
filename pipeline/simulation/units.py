"""The units a simulated trust is made of, and their week-by-week latent state.

Figures are plausible for an English acute trust, not real: an emergency department hears from
~280 patients a week and ~12% of them are negative; a maternity unit from ~9. Every unit has
the nuisances a real one has: a winter dip in attainment and experience (peaking mid-January),
a slow drift over the year, unit-week random effects (good and bad weeks beyond sampling noise:
overdispersion) in both feedback and incidents, and quieter weekends.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from datetime import date

# ODS-like organisation codes (synthetic data: they do not describe the real trusts).
ORG_CODES = ("RXA", "R1K", "RJ1", "RTH", "RDE", "RGT", "RAL", "RQM", "RWE", "RHM", "RYJ", "RKB")
# Harm levels of harmful incidents (low, moderate, severe, death) and their shares.
HARMFUL_MIX = (0.76, 0.19, 0.04, 0.01)
CATEGORIES = (
    "medication", "fall", "pressure_ulcer", "infection", "delay_in_care",
    "diagnosis", "treatment", "communication", "discharge", "other",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class UnitProfile:
    """A kind of unit: its feedback, its target, its activity and its incidents.

    `activity_per_week` is the target's denominator per week (attendances, pathways, ...);
    incident rates are per 1,000 of it. `winter_attainment_dip` is the attainment lost at the
    height of winter; `category_weights` follow `CATEGORIES`.
    """

    unit_id: str
    responses_per_day: float
    negative_share: float
    neutral_share: float
    metric: str
    target: float
    activity_per_week: float
    harmful_per_1000: float
    no_harm_per_1000: float
    weekend_factor: float
    winter_attainment_dip: float
    category_weights: tuple[float, ...]
    reporter_roles: tuple[str, ...]


_WARD_CATEGORIES = (3, 4, 3, 1, 1, 0.5, 1, 1, 1, 0.5)
CATALOGUE = (
    UnitProfile("ED", 40, 0.12, 0.07, "ae_4h", 0.78, 1800, 1.2, 2.5, 1.0, 0.07,
                (1, 1, 0.2, 0.3, 4, 2, 1, 1, 0.5, 1), ("nurse", "doctor", "paramedic")),
    UnitProfile("AMU", 9, 0.07, 0.06, "consultant_review_14h", 0.90, 260, 8, 15, 0.9, 0.05,
                (3, 2, 1, 1, 2, 1, 1, 1, 1, 0.5), ("nurse", "doctor", "pharmacist")),
    UnitProfile("ward-7", 3.5, 0.05, 0.05, "rtt_18w", 0.92, 120, 12, 25, 0.6, 0.02,
                _WARD_CATEGORIES, ("nurse", "healthcare_assistant", "doctor")),
    UnitProfile("maternity", 1.3, 0.04, 0.04, "booking_13w", 0.90, 90, 15, 30, 0.8, 0.0,
                (1, 0.2, 0.2, 1, 2, 1, 3, 2, 1, 1), ("midwife", "obstetrician")),
    UnitProfile("outpatients", 22, 0.05, 0.06, "diagnostic_6w", 0.95, 1500, 0.4, 1.5, 0.1, 0.02,
                (1, 0.5, 0, 0.2, 3, 2, 1, 3, 0.2, 1), ("nurse", "doctor", "administrator")),
    UnitProfile("oncology", 3, 0.03, 0.04, "cancer_62d", 0.85, 70, 10, 25, 0.3, 0.02,
                (4, 0.5, 0.5, 2, 2, 1, 2, 1, 0.5, 0.5), ("nurse", "doctor", "pharmacist")),
    UnitProfile("ward-12", 2.5, 0.06, 0.05, "rtt_18w", 0.92, 100, 12, 25, 0.6, 0.02,
                _WARD_CATEGORIES, ("nurse", "healthcare_assistant", "doctor")),
    UnitProfile("paeds", 2, 0.04, 0.05, "ae_4h", 0.78, 300, 3, 8, 1.0, 0.05,
                (2, 1, 0.1, 1, 3, 2, 1, 2, 0.5, 1), ("nurse", "doctor")),
)  # fmt: skip


def org_units(rng: random.Random, count: int) -> list[UnitProfile]:
    """`count` units of one organisation: the catalogue in order, then extra wards, each with
    its own volumes and levels (no two trusts are alike)."""
    units = []
    for index in range(count):
        base = (
            CATALOGUE[index]
            if index < len(CATALOGUE)
            else replace(CATALOGUE[2], unit_id=f"ward-{20 + index}")
        )
        units.append(
            replace(
                base,
                responses_per_day=base.responses_per_day * rng.uniform(0.75, 1.3),
                negative_share=base.negative_share * rng.uniform(0.8, 1.25),
                activity_per_week=base.activity_per_week * rng.uniform(0.8, 1.2),
                harmful_per_1000=base.harmful_per_1000 * rng.uniform(0.8, 1.25),
            )
        )
    return units


def winter(day: date) -> float:
    """0 in summer, 1 at the height of winter (mid-January), mostly December to February."""
    phase = 2 * math.pi * (day.timetuple().tm_yday - 15) / 365.25
    return ((1 + math.cos(phase)) / 2) ** 4


def logit(share: float) -> float:
    return math.log(share / (1 - share))


def expit(value: float) -> float:
    return 1 / (1 + math.exp(-value))


@dataclass(frozen=True, slots=True)
class UnitNature:
    """What makes one unit's weeks vary: drawn once per unit."""

    profile: UnitProfile
    attainment_margin: float  # attainment above (or, negative, below) target, outside winter
    drift_per_year: float  # on the logit of the negative share
    feedback_spread: float  # sd of the unit-week random effect on that logit
    incident_shape: float  # gamma shape of the unit-week incident multiplier (cv = 1/sqrt)

    @property
    def responses_per_week(self) -> float:
        return self.profile.responses_per_day * (5 + 2 * self.profile.weekend_factor)


def draw_nature(rng: random.Random, profile: UnitProfile, missing_share: float) -> UnitNature:
    """A unit misses its target throughout with probability `missing_share`."""
    margin = rng.uniform(0.025, 0.05)
    if rng.random() < missing_share:
        margin = -rng.uniform(0.03, 0.07)
    return UnitNature(
        profile=profile,
        attainment_margin=min(margin, 0.995 - profile.target),
        drift_per_year=rng.uniform(-0.25, 0.25),
        feedback_spread=rng.uniform(0.12, 0.28),
        incident_shape=rng.uniform(6.0, 12.0),
    )


WINTER_FEEDBACK_LOGIT = 0.2
WINTER_ACTIVITY = 0.08


def negative_logit(nature: UnitNature, weeks_in: float, day: date) -> float:
    """The logit of the negative share a unit tends to, before random effects and episodes."""
    return (
        logit(nature.profile.negative_share)
        + nature.drift_per_year * weeks_in / 52.18
        + WINTER_FEEDBACK_LOGIT * winter(day)
    )


def rating_shares(negative: float, profile: UnitProfile) -> tuple[float, ...]:
    """Shares of ratings 1 to 6 given the negative share: neutral responses rise and fall
    with negative ones, 2% answer "don't know"."""
    neutral = min(profile.neutral_share * math.sqrt(negative / profile.negative_share), 0.3)
    dont_know = 0.02
    positive = max(0.0, 1.0 - negative - neutral - dont_know)
    return (
        0.72 * positive, 0.28 * positive, neutral, 0.55 * negative, 0.45 * negative, dont_know
    )  # fmt: skip
