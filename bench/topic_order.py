"""Alert versions when the incident reports arrive after the other topics, through `Engine`.

The family simulator's events are fed to one engine in batches of `--batch`, each judged, in
two orders: interleaved (the simulator's order) and topic by topic (every feedback response and
target metric, then every incident report, as kcat publishing one topic after another delivers
them); then `judge_pending` (a worker's stream: no end of input) and `finish`. Prints, per
order, the alert versions raised, the `reporting_silence` versions, the silences withdrawn, and
whether the final alerts equal the interleaved run's. Counts, not timings: run it on each tree
(`PYTHONPATH=<tree>`) and compare.

Run: `python -m bench.topic_order [--seed 9] [--orgs 2] [--weeks 44] [--batch 1000]`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pipeline.core.alerts import AlertKind, AlertStatus
from pipeline.core.engine import Engine, EngineConfig, RawMessage
from pipeline.simulation.family import FamilyConfig
from pipeline.simulation.family_events import simulate_family

_NOW = datetime(2030, 1, 1, tzinfo=UTC)
_KEY = b"bench-topic-order-key-0123456789"


def run(events: Sequence[Mapping[str, Any]], batch: int) -> tuple[int, int, int, list[Any]]:
    """Versions raised, silence versions, silences withdrawn, the final alerts."""
    engine = Engine(EngineConfig(), _KEY)
    versions = []
    lines = [json.dumps(event).encode() for event in events]
    for first in range(0, len(lines), batch):
        chunk = lines[first : first + batch]
        messages = [RawMessage(line, f"t:{first + i}") for i, line in enumerate(chunk)]
        versions += engine.process(messages, _NOW).alerts
    versions += engine.judge_pending(_NOW).alerts
    versions += engine.finish(_NOW).alerts
    silences = [a for a in versions if a.kind is AlertKind.REPORTING_SILENCE]
    withdrawn = [a for a in silences if a.status is AlertStatus.WITHDRAWN]
    final = sorted(
        (a.alert_id, a.status, a.window_start, a.window_end, a.severity, a.summary)
        for a in engine.alerts
    )
    return len(versions), len(silences), len(withdrawn), final


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--orgs", type=int, default=2)
    parser.add_argument("--weeks", type=int, default=44)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    config = FamilyConfig(seed=args.seed, orgs=args.orgs, weeks=args.weeks, regraded=0.0)
    events = list(simulate_family(config).events)
    incidents = [e for e in events if e["event_type"] == "incident_report"]
    others = [e for e in events if e["event_type"] != "incident_report"]
    interleaved = run(events, args.batch)
    print(f"{len(events)} events, batches of {args.batch}")
    print("order            versions  silence versions  silences withdrawn  final as interleaved")
    for name, order in (("interleaved", None), ("topic by topic", others + incidents)):
        counts = interleaved if order is None else run(order, args.batch)
        same = counts[3] == interleaved[3]
        print(f"{name:<16} {counts[0]:>8}  {counts[1]:>16}  {counts[2]:>18}  {same}")


if __name__ == "__main__":
    main()
