"""Detection scored against ground truth, with findings made exactly as `pipeline replay` makes
them: the events go through `Engine.process` in batches, judged once, at the input's end
(`Engine.finish`), as replay judges; the alerts still standing (withdrawn ones left out) are
what is scored.

An alert *matches* a truth record of its kind at its unit when their weeks overlap, allowing
`TOLERANCE_WEEKS` after the record ends. Then:

- recall: detectable, non-decoy records matched by at least one alert;
- delay: weeks from a matched record's first week to the `detected_in_window` of its earliest
  matching alert (0: raised when the first bad week closed); also counted from the week the
  record became *evident* (`TruthEpisode.evident`: a sustained episode no single week shows);
- decoy alerts: alerts matching a decoy record (the aim is none);
- false alarms: alerts matching no record of their kind, per 100 *quiet* unit-weeks: weeks a
  unit is judged (from `judged_from`) outside every record of any kind (and its tolerance).
  Alerts matching a record that is not detectable are neither rewarded nor counted false; an
  alert during a record of another kind only is a false alarm (though those weeks are not quiet).

The tallies (`Score`, `KindScore`) are in pipeline/simulation/score_tally.py.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from typing import Any

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.alerts import Alert, AlertStatus
from pipeline.core.detection import DetectionConfig
from pipeline.core.engine import Engine, EngineConfig, RawMessage
from pipeline.simulation.score_tally import KindScore, Score, Scored
from pipeline.simulation.trust import TruthEpisode

TOLERANCE_WEEKS = 2
REPLAY_BATCH = 20_000  # `pipeline replay`'s default batch of lines
_KEY = b"evaluation-only-pseudonymisation-key"
_NOW = datetime(2030, 1, 1, tzinfo=UTC)
UnitKey = tuple[str, str]


def closed_series(events: Iterable[Mapping[str, Any]]) -> dict[UnitKey, list[UnitWindowAggregate]]:
    """Every unit's closed windows after replaying `events` through the engine: the windows
    detection judges, as the engine aggregates them."""
    engine = _replayed(events, REPLAY_BATCH, DetectionConfig(), None)
    return engine.closed_series()


def _replayed(
    events: Iterable[Mapping[str, Any]],
    batch: int,
    detection: DetectionConfig,
    shuffle_seed: int | None,
) -> Engine:
    engine = Engine(EngineConfig(detection=detection), _KEY)
    lines = [json.dumps(event, separators=(",", ":")).encode() for event in events]
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(lines)
    for first in range(0, len(lines), batch):
        chunk = lines[first : first + batch]
        messages = [RawMessage(line, f"sim:{first + i}") for i, line in enumerate(chunk)]
        engine.process(messages, _NOW, judge=False)
    engine.finish(_NOW)
    return engine


def replay(
    events: Iterable[Mapping[str, Any]],
    *,
    batch: int = REPLAY_BATCH,
    detection: DetectionConfig | None = None,
    shuffle_seed: int | None = None,
) -> list[Alert]:
    """The alerts standing after `pipeline replay` of `events` (in the given order, or shuffled
    with `shuffle_seed`), in batches of `batch` lines."""
    engine = _replayed(events, batch, detection or DetectionConfig(), shuffle_seed)
    standing = [a for a in engine.alerts if a.status is not AlertStatus.WITHDRAWN]
    return sorted(standing, key=lambda a: (a.window_start, a.org_id, a.unit_id, a.kind))


def score(
    truth: Sequence[TruthEpisode],
    units: Iterable[UnitKey],
    start: datetime,
    weeks: int,
    alerts: Sequence[Alert],
    *,
    judged_from: int,
) -> Score:
    """Compare `alerts` with `truth` (see the module docstring). `start` is the first week's
    Monday, `weeks` the run's length and `units` every (org, unit) simulated."""
    found = [Scored.of(alert) for alert in alerts]

    def week(moment: datetime) -> int:
        return (moment - start).days // 7

    spans = [(t, week(t.start), week(t.end) - 1) for t in truth]
    evident = {id(t): week(t.evident) if t.evident is not None else None for t in truth}
    result = Score()
    matched: set[int] = set()
    for record, first, last in spans:
        kind = result.by_kind.setdefault(record.kind.value, KindScore())
        hits = [
            i for i, f in enumerate(found)
            if (f.kind, f.org_id, f.unit_id) == (record.kind, record.org_id, record.unit_id)
            and week(f.first) <= last + TOLERANCE_WEEKS and week(f.last) >= first
        ]  # fmt: skip
        matched.update(hits)
        if record.decoy:
            kind.decoys += 1
            kind.decoy_alerts += len(hits)
            result.decoy_alerts.extend(found[i] for i in hits)
        elif record.detectable:
            kind.detectable += 1
            if hits:
                kind.detected += 1
                detected = min(week(found[i].detected_in) for i in hits)
                kind.delays.append(max(0, detected - first))
                since = evident[id(record)]
                kind.evident_delays.append(max(0, detected - (first if since is None else since)))
            else:
                result.missed.append(record)
    for i, finding in enumerate(found):
        kind = result.by_kind.setdefault(finding.kind.value, KindScore())
        kind.findings += 1
        if i not in matched:
            kind.false_alarms += 1
            result.false_alarms.append(finding)
    busy: dict[UnitKey, set[int]] = {}
    for record, first, last in spans:
        busy.setdefault((record.org_id, record.unit_id), set()).update(
            range(first, last + TOLERANCE_WEEKS + 1)
        )
    result.quiet_unit_weeks = sum(
        len(set(range(judged_from, weeks)) - busy.get(unit, set())) for unit in units
    )
    for kind_score in result.by_kind.values():
        result.overall.add(kind_score)
    return result


def score_seed(family: str, seed: int) -> Score:
    """Simulate one trust of `family` (`simulator` or `family`: seeds 100-119 with sustained harm
    rises, from 200 with near-target units, `FamilyConfig.for_seed`), replay it through the
    engine and score it."""
    from pipeline.simulation import SimulationConfig, simulate_trust
    from pipeline.simulation.family import FamilyConfig
    from pipeline.simulation.family_events import simulate_family

    judged_from = DetectionConfig().min_baseline_windows
    if family == "family":
        trust = simulate_family(FamilyConfig.for_seed(seed))
        return score(trust.truth, trust.units, trust.start, trust.weeks, replay(trust.events),
                     judged_from=judged_from)  # fmt: skip
    old = simulate_trust(SimulationConfig(seed=seed))
    return score(old.truth, old.units, old.start, old.config.weeks, replay(old.events),
                 judged_from=judged_from)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m pipeline.simulation.score {simulator,family} FIRST LAST [--jobs N]`:
    the pooled score of seeds FIRST to LAST, replayed through the engine, as JSON."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("family", choices=("simulator", "family"))
    parser.add_argument("first", type=int)
    parser.add_argument("last", type=int)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args(argv)
    total = Score()
    seeds = range(args.first, args.last + 1)
    with ProcessPoolExecutor(args.jobs) as pool:
        for result in pool.map(score_seed, [args.family] * len(seeds), seeds):
            total.add(result)
    summary = total.summary()
    summary["missed"] = [t.description for t in total.missed]
    summary["false_alarms_found"] = [
        f"{f.kind.value} {f.org_id}/{f.unit_id} {f.first.date()}" for f in total.false_alarms
    ]
    summary["decoy_alerts_found"] = [
        f"{d.kind.value} {d.org_id}/{d.unit_id} {d.first.date()}" for d in total.decoy_alerts
    ]
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
