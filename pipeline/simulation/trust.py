"""Synthetic trusts with ground truth: `simulate_trust` (the `pipeline simulate` command is in
`pipeline.cli.simulate`).

A simulated trust is a few organisations of several units each, over a run of ISO weeks, with
the nuisances real data has (winter pressure, slow drift, small units, overdispersion, monthly
target feeds with revisions, late, out-of-order and duplicate delivery) and a ground truth:
injected deteriorations marked detectable or not, and decoys that must raise nothing. It is
deterministic from its seed; the delivery options (shuffle, duplicates) draw from a separate
stream, so they change the order of the same events, never the events.

The parts (modules of `pipeline.simulation`): `units` (what units are like), `targets` (monthly
returns), `plan` (episodes, decoys, truth), `oracle` (detectability), `events` (the contract's
JSON events), `score` (detection against truth).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from pipeline.core.alerts import AlertKind
from pipeline.simulation.events import Timed, emit_org
from pipeline.simulation.plan import plan_org
from pipeline.simulation.targets import Calendar
from pipeline.simulation.units import ORG_CODES, draw_nature, org_units

MAX_FEEDBACK_SCALE = 1000.0
"""The largest feedback multiplier: far past it daily volumes overflow (1e308 raised
OverflowError) and a negative one made volumes silently negative."""


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """The size and character of a simulated trust.

    `feedback_scale` multiplies every unit's responses a day; `deteriorations_per_org` injected
    episodes per organisation (plus, per organisation, one unit that misses its target while its
    experience falls and one single bad week, both decoys); `org_dip` makes the first
    organisation dip as a whole for a month (a decoy); `missing_share` is the chance a unit
    misses its target throughout; `warmup_weeks` are kept free of episodes. With `shuffle`,
    events arrive up to `max_delay_hours` late (so out of order); `duplicates` is the fraction
    delivered twice; `alert_responses_per_org` alerts get answered by the safety team.
    """

    seed: int = 1
    orgs: int = 3
    units_per_org: int = 6
    weeks: int = 64
    start: date = date(2023, 4, 3)
    feedback_scale: float = 1.0
    deteriorations_per_org: int = 3
    org_dip: bool = True
    missing_share: float = 0.2
    warmup_weeks: int = 16
    shuffle: bool = False
    max_delay_hours: float = 72.0
    duplicates: float = 0.0
    alert_responses_per_org: int = 2

    def __post_init__(self) -> None:
        if self.start.weekday() != 0:
            raise ValueError("start must be a Monday (ISO weeks)")
        if self.orgs < 1 or self.units_per_org < 2:
            raise ValueError("need at least one organisation of at least two units")
        if self.weeks < self.warmup_weeks + 12:
            raise ValueError(f"need at least {self.warmup_weeks + 12} weeks")
        if not 0.0 <= self.duplicates <= 1.0:
            raise ValueError("duplicates is a fraction between 0 and 1")
        if not 0.0 < self.feedback_scale <= MAX_FEEDBACK_SCALE:  # also refuses NaN
            raise ValueError(f"feedback scale is a positive number, at most {MAX_FEEDBACK_SCALE:g}")


@dataclass(frozen=True, slots=True)
class TruthEpisode:
    """What really happened at one unit over [start, end) (UTC week boundaries).

    `detectable`: an oracle knowing the unit's true noise would see it within two weeks (see
    `pipeline.simulation.oracle`); `decoy`: nothing of this `kind` may be raised for it.
    `evident`: for a sustained episode that no one week shows (the evaluation family), the
    first week by whose end an oracle pooling the episode's weeks could have seen it; delays
    are also measured from there (None: from `start`).
    """

    kind: AlertKind
    org_id: str
    unit_id: str
    start: datetime
    end: datetime
    detectable: bool
    decoy: bool
    description: str
    evident: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "org_id": self.org_id,
            "unit_id": self.unit_id,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "detectable": self.detectable,
            "decoy": self.decoy,
            "description": self.description,
        }


@dataclass(frozen=True, slots=True)
class SimulatedTrust:
    """Events in delivery order (contract §1 JSON objects) and the ground truth."""

    config: SimulationConfig
    events: list[dict[str, Any]]
    truth: list[TruthEpisode]
    units: tuple[tuple[str, str], ...]  # (org_id, unit_id) of every unit

    @property
    def start(self) -> datetime:
        """The start of the first week (UTC)."""
        return _midnight(self.config.start)


def simulate_trust(config: SimulationConfig) -> SimulatedTrust:
    rng = random.Random(config.seed)
    cal = Calendar(config.start, config.weeks)
    timed: list[Timed] = []
    truth: list[TruthEpisode] = []
    units: list[tuple[str, str]] = []
    for index in range(config.orgs):
        org_id = _org_code(index)
        natures = [
            draw_nature(rng, profile, config.missing_share)
            for profile in org_units(rng, config.units_per_org)
        ]
        plan = plan_org(
            rng,
            natures,
            cal,
            warmup=config.warmup_weeks,
            deteriorations=config.deteriorations_per_org,
            org_dip=config.org_dip and index == 0,
            scale=config.feedback_scale,
        )
        timed.extend(
            emit_org(rng, org_id, plan, cal, config.feedback_scale, config.alert_responses_per_org)
        )
        units.extend((org_id, nature.profile.unit_id) for nature in natures)
        for record in plan.truth:
            truth.append(
                TruthEpisode(
                    kind=AlertKind(record.kind),
                    org_id=org_id,
                    unit_id=natures[record.unit].profile.unit_id,
                    start=_midnight(cal.week_start(record.first)),
                    end=_midnight(cal.week_start(record.last + 1)),
                    detectable=record.detectable,
                    decoy=record.decoy,
                    description=record.description,
                )
            )
    return SimulatedTrust(config, _deliver(timed, config), truth, tuple(units))


def _org_code(index: int) -> str:
    if index < len(ORG_CODES):
        return ORG_CODES[index]
    return f"RZ{index:03d}"


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _deliver(timed: list[Timed], config: SimulationConfig) -> list[dict[str, Any]]:
    """Events in the order a consumer would receive them."""
    delivery = random.Random(f"{config.seed}/delivery")
    delay = config.max_delay_hours * 3600 if config.shuffle else 0.0
    arrivals = [(moment + delivery.uniform(0, delay), i) for i, (moment, _) in enumerate(timed)]
    duplicates = [
        (arrival + delivery.uniform(0, config.max_delay_hours * 3600), i)
        for arrival, i in arrivals
        if delivery.random() < config.duplicates
    ]
    return [timed[i][1] for _, i in sorted(arrivals + duplicates)]
