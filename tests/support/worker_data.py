"""Synthetic event streams for the worker tests: valid events of every type, bad lines and
duplicates, with the counts a test checks against."""

from __future__ import annotations

import json
import random
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

with warnings.catch_warnings():
    # kafka-python loads its protocol schemas with importlib.resources.read_text, deprecated
    # since Python 3.11; the project runs its tests with warnings as errors.
    warnings.filterwarnings("ignore", r"(read|open)_text is deprecated", DeprecationWarning)


START = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
EVENT_TYPES = ("incident_report", "target_metric", "patient_feedback", "alert_response")


@dataclass
class Dataset:
    """Messages to publish, in order, with what a correct run must end up holding."""

    messages: list[tuple[str, str, bytes]] = field(default_factory=list)  # (type, org, value)
    event_ids: dict[str, set[str]] = field(default_factory=dict)
    bad: int = 0
    duplicates: int = 0

    @property
    def distinct_events(self) -> dict[str, int]:
        return {t: len(self.event_ids.get(t, ())) for t in EVENT_TYPES}


def synthetic(
    *,
    orgs: Sequence[str] = ("RA1", "RB2", "RC3", "RD4", "RE5"),
    units: Sequence[str] = ("ED", "MAT", "W12"),
    weeks: int = 16,
    feedback_per_week: int = 12,
    seed: int = 7,
) -> Dataset:
    """A small trust-like stream: every unit meets its 4-hour target every week; two units'
    patient feedback turns sharply worse half-way (hitting the target, missing the point).
    Plus bad messages, re-sent duplicates, and a closing event per organisation at one
    instant, so that any split of organisations over workers sees the same watermark."""
    rng = random.Random(seed)
    data = Dataset()
    divergent = {(orgs[0], units[0]), (orgs[min(2, len(orgs) - 1)], units[-1])}
    events: list[dict[str, Any]] = []

    def add(event_type: str, org: str, unit: str, at: datetime, **fields: Any) -> dict[str, Any]:
        event = {
            "schema_version": 1,
            "event_type": event_type,
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "org_id": org,
            "unit_id": unit,
            "occurred_at": at.isoformat(),
            "source": "worker-test",
            **fields,
        }
        events.append(event)
        return event

    for week in range(weeks):
        monday = START + timedelta(weeks=week)
        for org in orgs:
            for unit in units:
                # Ten weeks of baseline before the detector judges a unit.
                bad_experience = (org, unit) in divergent and week >= max(10, weeks - 6)
                add(
                    "target_metric",
                    org,
                    unit,
                    monday + timedelta(days=7, hours=1),
                    metric="ae_4h",
                    period_start=monday.isoformat(),
                    period_end=(monday + timedelta(days=7)).isoformat(),
                    numerator=960 + rng.randrange(20),
                    denominator=1000,
                    target=0.95,
                )
                for _ in range(feedback_per_week):
                    if bad_experience:
                        rating = rng.choice((1, 2, 3, 4, 4, 5, 5, 5))
                    else:
                        rating = (
                            rng.choice((1, 1, 1, 1, 2, 2, 2, 3, 6)) if rng.random() > 0.05 else 4
                        )
                    add(
                        "patient_feedback",
                        org,
                        unit,
                        monday + timedelta(minutes=rng.randrange(7 * 24 * 60)),
                        rating=rating,
                        channel=rng.choice(("sms", "web", "kiosk")),
                    )
                for _ in range(2):
                    add(
                        "incident_report",
                        org,
                        unit,
                        monday + timedelta(minutes=rng.randrange(7 * 24 * 60)),
                        category=rng.choice(("fall", "medication", "communication")),
                        harm=rng.choice(("none", "none", "low")),
                        description="Patient 943 476 5919 slipped near bay 3",
                        patient_ref=f"MRN-{rng.randrange(10_000)}",
                    )
    closing = START + timedelta(weeks=weeks, days=3)
    for org in orgs:
        add("patient_feedback", org, units[0], closing, rating=1)
        add("alert_response", org, units[0], closing, alert_id="tar-0", response="acknowledged")
    # Mostly in time order, with some local disorder (late events).
    events.sort(key=lambda e: (e["occurred_at"], e["event_id"]))
    for i in range(0, len(events) - 8, 8):
        chunk = events[i : i + 8]
        rng.shuffle(chunk)
        events[i : i + 8] = chunk
    for event in events:
        value = json.dumps(event, separators=(",", ":")).encode()
        data.messages.append((event["event_type"], event["org_id"], value))
        data.event_ids.setdefault(event["event_type"], set()).add(event["event_id"])
    for _ in range(25):  # an event sent again, a little after its first delivery
        at = rng.randrange(len(data.messages))
        again = min(len(data.messages), at + 1 + rng.randrange(200))
        data.messages.insert(again, data.messages[at])
        data.duplicates += 1
    bad_values = [
        b"not json at all",
        b'{"schema_version": 1, "event_type": "patient_feedback"}',
        json.dumps({**events[0], "surprise": 1}).encode(),
        json.dumps({**events[1], "schema_version": "1"}).encode(),
        b"\xff\xfe\x00 bad bytes",
        json.dumps({**events[2], "event_type": "mystery"}).encode(),
    ]
    for n, value in enumerate(bad_values):
        org = orgs[n % len(orgs)]
        data.messages.insert(rng.randrange(len(data.messages)), (EVENT_TYPES[n % 3], org, value))
        data.bad += 1
    return data
