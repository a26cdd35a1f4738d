"""An independent evaluation family: trusts written from their own specification, for scoring only.

`pipeline.simulate` is what detection was tuned on. This family was written from a different
brief, so that the figures it gives are not the simulator agreeing with itself:

- 6 organisations of 7 to 11 units, 78 ISO weeks from a Monday in January;
- feedback: units of 12 to 120 responses a week (a quarter change size once, ×0.6 or ×1.6, with
  their activity and incidents); many neutral ratings; the positive share varies week to week
  on the logit scale (sd 0.12 to 0.32 per unit), drifts slowly (up to ±0.3 on the logit over the
  run) and dips every winter (per organisation, up to 0.35 on the logit in mid-January);
- targets: attainment dips every winter too; a third of units send monthly returns (5 to 12
  days after the month), the rest weekly ones (1 to 4 days after the week); some units miss
  their target throughout;
- incidents: 1 to 8 a week per unit (gamma week-to-week variation, CV 0.25), harm mostly none
  or low; 3% re-graded later (re-sent with the same id and a new harm: the first version seen
  counts, as contract v1 says);
- delivery: every event arrives 0 to `jitter_days` days after it happened (so out of order),
  and 1% are delivered twice.

Planted episodes, with their ground truth (`pipeline.simulate.TruthEpisode`):

- *divergence*: the positive share falls by 0.06 to 0.25 for 5 to 10 weeks at a unit of 25 to 70
  responses a week that meets its target throughout;
- *harm rises*: harmful incidents ×1.5 to ×3 for 4 to 8 weeks (a safety signal, and a
  divergence in the weeks the unit meets its target: required only when it meets it throughout,
  and never a false alarm);
- *sustained harm rises* (only with `sustained_harm_rises`, on `SUSTAINED_HARM_SEEDS`): harmful
  incidents ×1.5 to ×3 for 7 to 12 weeks at a unit of 0.8 to 3 harmful incidents a week,
  recorded as the harm rises above, detectable by the rule below but in sd of the unit's usual
  pooled harmful count (`family_plan.sustained_rise_sd`);
- *reporting silence*: all incident reports fall to 0 to 20% of usual for 4 to 8 weeks while
  activity and feedback carry on;
- *decoys* (nothing of their kind may be raised): a unit whose attainment and experience dip
  together (it misses its target); a whole organisation dipping in experience and attainment for
  a month; a single bad week of feedback at a 1-in-50 count;
- with `near_target_per_org` (off by default; on for seeds 200 and up, `FamilyConfig.for_seed`):
  units whose attainment sits within a point or two of their target, with divergences and "both
  fall" decoys on them (`pipeline.simulation.family_near`).

*Detectable* (`pipeline.simulation.family_plan.detectable_shift`): an oracle that knows the
unit's true weekly distribution and when the episode starts and ends pools the episode's weeks;
the episode is detectable when its expected shift is at least `DETECTABLE_SD` (5.5) standard
deviations of that pooled count: a test at a 1-in-100,000 false-alarm risk would see it with
probability 0.9. A silence is detectable when its expected shortfall is at least 3 sd. A
sustained harm rise is detectable when its expected pooled rise is at least `DETECTABLE_SD` sd of
the unit's *usual* pooled harmful count over its weeks (the shorter rises divide by the risen
count's sd, which at ×2 to ×3 is 1.4 to 1.7 times as large): such a test sees a ×2 rise about 4
times in 5 rather than 9 in 10.
Dark spots are not planted here: findings of that kind are scored as false alarms on quiet
weeks only.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from pipeline.simulation.trust import TruthEpisode


@dataclass(frozen=True, slots=True)
class FamilyConfig:
    """The size of one trust of the family (see the module docstring)."""

    seed: int = 1
    orgs: int = 6
    min_units: int = 7
    max_units: int = 11
    weeks: int = 78
    start: date = date(2024, 1, 1)
    warmup_weeks: int = 14
    divergences_per_org: int = 3
    jitter_days: float = 3.0
    duplicates: float = 0.01
    regraded: float = 0.03
    # Per organisation; 0 (off) but on `SUSTAINED_HARM_SEEDS` (`FamilyConfig.for_seed`).
    sustained_harm_rises: int = 0
    # Units planted near their target line per organisation (`pipeline.simulation.family_near`);
    # 0 (the default) plants none and leaves every event of a seed as it was.
    near_target_per_org: int = 0

    def __post_init__(self) -> None:
        if self.start.weekday() != 0:
            raise ValueError("start must be a Monday (ISO weeks)")
        if not 2 <= self.min_units <= self.max_units:
            raise ValueError("need 2 <= min_units <= max_units")
        if self.weeks < self.warmup_weeks + 20:
            raise ValueError(f"need at least {self.warmup_weeks + 20} weeks")
        if not 0 <= self.near_target_per_org <= 4:
            raise ValueError("near_target_per_org must be 0 to 4")

    @classmethod
    def for_seed(cls, seed: int) -> FamilyConfig:
        """The family's configuration for `seed`: the defaults, with sustained harm rises (and
        the units they need) on `SUSTAINED_HARM_SEEDS` and near-target units from
        `NEAR_TARGET_SEEDS_FROM`."""
        if seed in SUSTAINED_HARM_SEEDS:
            return cls(seed=seed, min_units=9, max_units=13, sustained_harm_rises=2)
        if seed >= NEAR_TARGET_SEEDS_FROM:
            return cls(seed=seed, near_target_per_org=NEAR_TARGET_PER_ORG)
        return cls(seed=seed)


# Seeds from 200 plant three near-target units per organisation: 200-211 tuning, 212-215 held
# out, 216-219 blind (docs/detection.md, "Twenty-first round, near-target units").
NEAR_TARGET_SEEDS_FROM = 200
NEAR_TARGET_PER_ORG = 3

# Seeds with two sustained harm rises per organisation: 100-111 tuning, 112-115 held out,
# 116-119 blind (docs/detection.md, "Twenty-first round").
SUSTAINED_HARM_SEEDS = range(100, 120)


METRICS = (("ae_4h", 0.78), ("rtt_18w", 0.92), ("cancer_62d", 0.85), ("diagnostic_6w", 0.95))
HARM_MIX = (("none", 0.66), ("low", 0.24), ("moderate", 0.07), ("severe", 0.02), ("death", 0.01))
HARMFUL_SHARE = 1.0 - HARM_MIX[0][1]


@dataclass(slots=True)
class Unit:
    """What one unit is like: its usual volumes and levels, and the episodes planted on it.

    Per week: `feedback_shift[w]` is added to the positive share (negative: worse),
    `attainment_shift[w]` to attainment, `harm_factor[w]` multiplies harmful incidents and
    `reporting[w]` multiplies every incident report (a silence)."""

    org_id: str
    unit_id: str
    responses: float
    positive: float
    neutral: float
    spread: float
    drift: float
    metric: str
    target: float
    margin: float
    monthly: bool
    activity: float
    incidents: float
    resize_week: int
    resize: float
    feedback_shift: list[float] = field(default_factory=list)
    attainment_shift: list[float] = field(default_factory=list)
    harm_factor: list[float] = field(default_factory=list)
    reporting: list[float] = field(default_factory=list)
    spike_week: int = -1
    near_target: bool = False  # kept for `pipeline.simulation.family_near`'s episodes

    def size(self, week: int) -> float:
        return self.resize if week >= self.resize_week else 1.0


@dataclass(frozen=True, slots=True)
class FamilyTrust:
    """One simulated trust of the family: events in delivery order and the truth."""

    config: FamilyConfig
    events: list[dict[str, Any]]
    truth: list[TruthEpisode]
    units: tuple[tuple[str, str], ...]

    @property
    def start(self) -> datetime:
        return datetime.combine(self.config.start, datetime.min.time(), UTC)

    @property
    def weeks(self) -> int:
        return self.config.weeks


_ORG_CODES = ("RA7", "RBN", "RC9", "RDU", "RTH", "RW6", "RXW", "RYJ")
_UNIT_NAMES = (
    "ED", "AMU", "SAU", "CCU", "theatres", "day-surgery", "endoscopy", "stroke", "renal",
    "haematology", "frailty", "ortho", "respiratory", "gynae", "NICU", "paeds-ed", "ward-3",
)  # fmt: skip


def draw_units(rng: random.Random, config: FamilyConfig, org_index: int) -> list[Unit]:
    """The units of one organisation, with no episodes yet."""
    org_id = _ORG_CODES[org_index % len(_ORG_CODES)]
    count = rng.randint(config.min_units, config.max_units)
    names = rng.sample(_UNIT_NAMES, count)
    units = []
    for name in names:
        metric, target = rng.choice(METRICS)
        chronic_miss = rng.random() < 0.15
        units.append(
            Unit(
                org_id=org_id,
                unit_id=name,
                responses=12.0 * 10 ** rng.uniform(0.0, 1.0),  # 12 to 120, log-uniform
                positive=rng.uniform(0.70, 0.92),
                neutral=rng.uniform(0.45, 0.70),  # of the responses that are not positive
                spread=rng.uniform(0.12, 0.32),
                drift=rng.uniform(-0.3, 0.3) / config.weeks,
                metric=metric,
                target=target,
                margin=rng.uniform(-0.06, -0.015) if chronic_miss else rng.uniform(0.025, 0.07),
                monthly=rng.random() < 1 / 3,
                activity=150.0 * 10 ** rng.uniform(0.0, 1.2),
                incidents=rng.uniform(1.0, 8.0),
                resize_week=rng.randint(20, config.weeks - 10) if rng.random() < 0.25 else 10**6,
                resize=rng.choice((0.6, 1.6)),
                feedback_shift=[0.0] * config.weeks,
                attainment_shift=[0.0] * config.weeks,
                harm_factor=[1.0] * config.weeks,
                reporting=[1.0] * config.weeks,
            )
        )
    return units
