"""`pipeline simulate`: write a synthetic trust's events and its ground truth."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from pipeline.cli.outputs import make_output_directory, writing
from pipeline.errors import UsageError
from pipeline.simulation import SimulationConfig, simulate_trust


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    """`pipeline simulate --out DIR [--seed N] [--orgs N] [--units N] [--weeks N] [--shuffle]
    [--duplicates FRACTION] [--feedback-scale X]`."""
    defaults = SimulationConfig()
    parser.add_argument(
        "--out", type=Path, required=True, metavar="DIR",
        help="directory for events.jsonl and truth.json",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=defaults.seed, metavar="N", help="the seed")
    parser.add_argument(
        "--orgs", type=_positive, default=defaults.orgs, metavar="N", help="organisations"
    )
    parser.add_argument(
        "--units", type=_positive, default=defaults.units_per_org, metavar="N",
        help="units per organisation",
    )  # fmt: skip
    parser.add_argument(
        "--weeks", type=_positive, default=defaults.weeks, metavar="N",
        help=f"ISO weeks simulated, at least {defaults.warmup_weeks + 12}",
    )  # fmt: skip
    parser.add_argument("--shuffle", action="store_true", help="deliver out of order")
    parser.add_argument(
        "--duplicates", type=float, default=defaults.duplicates, metavar="FRACTION",
        help="fraction of events delivered twice",
    )  # fmt: skip
    parser.add_argument(
        "--feedback-scale", type=float, default=defaults.feedback_scale, metavar="X",
        help="multiplies every unit's feedback volume",
    )  # fmt: skip


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive whole number")
    return value


def run_simulate(args: argparse.Namespace, stdout: TextIO) -> int:
    """Write `events.jsonl` (delivery order) and `truth.json` to `args.out`; 0 on success,
    2 when the arguments describe no valid simulation."""
    try:
        config = SimulationConfig(
            seed=args.seed,
            orgs=args.orgs,
            units_per_org=args.units,
            weeks=args.weeks,
            shuffle=args.shuffle,
            duplicates=args.duplicates,
            feedback_scale=args.feedback_scale,
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    most = (datetime.now(UTC).date() - config.start).days // 7
    if config.weeks > most:  # replay and the worker would reject every event past today
        raise UsageError(
            f"{config.weeks} weeks from {config.start} run past today, and event times ahead "
            f"of now are rejected: at most {most} weeks"
        )
    out = make_output_directory(args.out)
    trust = simulate_trust(config)
    with (
        writing(out / "events.jsonl"),
        (out / "events.jsonl").open("w", encoding="utf-8") as events,
    ):
        for event in trust.events:
            events.write(json.dumps(event, separators=(",", ":")) + "\n")
    truth = {
        "config": {**asdict(config), "start": config.start.isoformat()},
        "episodes": [episode.to_json() for episode in trust.truth],
    }
    with writing(out / "truth.json"):
        (out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    detectable = sum(e.detectable for e in trust.truth)
    decoys = sum(e.decoy for e in trust.truth)
    stdout.write(
        f"{len(trust.events)} events from {len(trust.units)} units over {config.weeks} weeks "
        f"({config.start} to {config.start + timedelta(weeks=config.weeks)}); truth: "
        f"{len(trust.truth)} records, {detectable} detectable, {decoys} decoys -> {out}\n"
    )
    return 0
