"""A trust written from docs/CONTRACT.md alone, independent of pipeline/simulation: each unit
reports a weekly 4-hour-style target, single Friends-and-Family ratings and incidents.

From week `change` on, `hit_target_worse_feedback` keeps meeting its target while three times
as many patients rate its care poor; the decoys miss their target with steady experience
(`misses_from_change` from the change on, `misses_throughout` all along); the other units stay
as they were. What a correct pipeline must say about it is in `ContractTrust`.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

START = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday
SIGNAL = "hit_target_worse_feedback"
DECOYS = ("misses_from_change", "misses_throughout")


@dataclass(frozen=True)
class ContractTrust:
    org_id: str
    change_at: datetime
    steady: tuple[str, ...]  # units whose experience and harm never change (decoys included)
    events: int


def _poisson(rng: random.Random, mean: float) -> int:
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def write_contract_trust(
    path: Path, *, seed: int, weeks: int = 36, change: int = 24, quiet: int = 4
) -> ContractTrust:
    """Write the trust's events, shuffled, as JSON Lines to `path`."""
    rng = random.Random(seed)
    org = f"QA{seed:03d}"
    units = [SIGNAL, *DECOYS, *(f"quiet_{n}" for n in range(quiet))]
    events: list[dict[str, Any]] = []

    def event(kind: str, unit: str, at: datetime, **fields: Any) -> None:
        events.append(
            {
                "schema_version": 1,
                "event_type": kind,
                "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "org_id": org,
                "unit_id": unit,
                "occurred_at": at.isoformat(),
                "source": "contract-trust",
                **fields,
            }
        )

    for week in range(weeks):
        monday = START + timedelta(weeks=week)
        changed = week >= change
        for unit in units:
            misses = unit == DECOYS[1] or (unit == DECOYS[0] and changed)
            poor = 0.15 if unit == SIGNAL and changed else 0.05
            attendances = rng.randint(810, 990)
            share = (0.87 if misses else 0.965) + rng.gauss(0, 0.005)
            event(
                "target_metric", unit, monday + timedelta(days=7, seconds=-1),
                metric="ae_4h", period_start=monday.isoformat(),
                period_end=(monday + timedelta(days=7)).isoformat(),
                numerator=round(attendances * share), denominator=attendances, target=0.95,
            )  # fmt: skip
            for _ in range(rng.randint(56, 84)):
                draw = rng.random()
                rating = (
                    rng.choice((4, 5)) if draw < poor
                    else rng.choice((3, 6)) if draw < poor + 0.06
                    else rng.choice((1, 1, 2))
                )  # fmt: skip
                at = monday + timedelta(seconds=rng.randrange(7 * 86400))
                event("patient_feedback", unit, at, rating=rating, channel="sms")
            for _ in range(_poisson(rng, 4.0)):
                at = monday + timedelta(seconds=rng.randrange(7 * 86400))
                harm = "none" if rng.random() < 0.75 else "low"
                event("incident_report", unit, at, category="fall", harm=harm)
    rng.shuffle(events)
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return ContractTrust(
        org, START + timedelta(weeks=change), tuple(u for u in units if u != SIGNAL), len(events)
    )
