"""Operating characteristics of one unit's monitors: how soon a shift is caught, and how rarely a
quiet unit signals.

A unit is simulated window by window (`pipeline.core.detection.stats.monitor` with the default
rules: Shewhart and CUSUM): 40 quiet weeks, then a sustained shift. Feedback: responses a week
Poisson around `n`, a usual positive share of 0.80, week-to-week variation of 0.2 on the logit
(an overdispersed unit); the shift lowers the positive share by `d`. Harm: harmful incidents a
week gamma-Poisson (CV 0.25) around `mu`, multiplied by `m` during the shift. The probability
of detection within 2, 4 and 8 weeks counts the replicates whose first signal in the shift came
within that many windows of its start (a signal before the shift voids nothing: it is counted
as a false alarm in the run length instead). The in-control average run length (ARL) is weeks
of quiet unit per signal, per measure.

Run: `python -m bench.oc_curves [--replicates 200] [--out docs/img]` (writes SVG charts and
prints the figures as JSON).
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from bench.svg_lines import Series, line_chart
from pipeline.core.detection import DetectionConfig
from pipeline.core.detection.stats import monitor

WARMUP = 40
HORIZONS = (2, 4, 8)
SHARE_SHIFTS = (0.06, 0.10, 0.15, 0.20, 0.25)
HARM_FACTORS = (1.5, 2.0, 2.5, 3.0)
RESPONSES = (12, 25, 50, 80, 120)
RULES = DetectionConfig().rules

Week = tuple[int, float, int | None]  # (count, scale, trials)


def poisson_draw(rng: random.Random, mean: float) -> int:
    if mean > 40:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def feedback_week(rng: random.Random, n: float, drop: float) -> Week:
    responses = max(1, poisson_draw(rng, n))
    usual = 1.0 / (1.0 + math.exp(-(math.log(0.8 / 0.2) + rng.gauss(0.0, 0.2))))
    not_positive = min(0.98, 1.0 - usual + drop)
    count = sum(rng.random() < not_positive for _ in range(responses))
    return count, float(responses), responses


def harm_week(rng: random.Random, mu: float, factor: float) -> Week:
    level = rng.gammavariate(16.0, 1.0 / 16.0)
    return poisson_draw(rng, mu * factor * level), 1.0, None


def first_signal(weeks: Sequence[Week]) -> int | None:
    """Index of the first window that signalled when it closed (None: none did)."""
    counts = [w[0] for w in weeks]
    scales = [w[1] for w in weeks]
    trials = [w[2] or 0 for w in weeks] if weeks[0][2] is not None else None
    trace = monitor(counts, scales, trials, None, RULES)
    closing = [t for t, at in enumerate(trace.signalled_at) if at == t]
    return min(closing, default=None)


def detection_probability(
    rng: random.Random, week: Callable[[random.Random, bool], Week], replicates: int, length: int
) -> dict[int, float]:
    """P(first signal of the shift within h windows of its start), per horizon h."""
    caught = dict.fromkeys(HORIZONS, 0)
    for _ in range(replicates):
        weeks = [week(rng, False) for _ in range(WARMUP)]
        weeks += [week(rng, True) for _ in range(length)]
        counts = [w[0] for w in weeks]
        trace = monitor(
            counts, [w[1] for w in weeks],
            [w[2] or 0 for w in weeks] if weeks[0][2] is not None else None, None, RULES,
        )  # fmt: skip
        signals = [at for at in trace.signalled_at[WARMUP:] if at >= WARMUP]
        if signals:
            delay = min(signals) - WARMUP + 1
            for horizon in HORIZONS:
                caught[horizon] += delay <= horizon
    return {h: caught[h] / replicates for h in HORIZONS}


def run_length(rng: random.Random, week: Callable[[random.Random], Week], weeks: int) -> float:
    """Quiet weeks judged per signal (a signal restarts nothing here: the monitor's own reset)."""
    series = [week(rng) for _ in range(weeks)]
    counts = [w[0] for w in series]
    trace = monitor(
        counts, [w[1] for w in series],
        [w[2] or 0 for w in series] if series[0][2] is not None else None, None, RULES,
    )  # fmt: skip
    judged = sum(1 for z in trace.z if not math.isnan(z))
    signals = sum(1 for t, at in enumerate(trace.signalled_at) if at == t)
    return judged / signals if signals else math.inf


def shifted_feedback(n: float, drop: float) -> Callable[[random.Random, bool], Week]:
    """A unit's weeks of feedback at `n` responses, the share `drop`ped while `on`."""
    return lambda rng, on: feedback_week(rng, n, drop if on else 0.0)


def multiplied_harm(mu: float, factor: float) -> Callable[[random.Random, bool], Week]:
    """A unit's weeks of harm at mean `mu`, multiplied by `factor` while `on`."""
    return lambda rng, on: harm_week(rng, mu, factor if on else 1.0)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--quiet-weeks", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    args = parser.parse_args(argv)
    rng = random.Random(13)
    reps = args.replicates
    figures: dict[str, object] = {}

    by_shift = {
        d: detection_probability(rng, shifted_feedback(50, d), reps, 8)
        for d in SHARE_SHIFTS
    }  # fmt: skip
    figures["positive_share_drop_at_50_responses"] = by_shift
    by_size = {
        n: detection_probability(rng, shifted_feedback(n, 0.15), reps, 8)
        for n in RESPONSES
    }  # fmt: skip
    figures["drop_0.15_by_responses_a_week"] = by_size
    by_harm = {
        (mu, m): detection_probability(rng, multiplied_harm(mu, m), reps, 8)
        for mu in (2.0, 6.0)
        for m in HARM_FACTORS
    }
    figures["harm_multiplied"] = {f"{mu:g}/week x{m:g}": p for (mu, m), p in by_harm.items()}
    by_length = {}
    for length in (2, 3, 5, 8, 10):
        caught = detection_probability(rng, shifted_feedback(50, 0.15), reps, length)
        by_length[length] = caught[8]
    figures["drop_0.15_at_50_by_duration_within_8"] = by_length
    arl = {
        f"feedback, {n} responses a week": run_length(
            rng, partial(feedback_week, n=n, drop=0.0), args.quiet_weeks
        )
        for n in (12, 50, 120)
    }
    arl.update(
        {
            f"harm, {mu:g} harmful incidents a week": run_length(
                rng, partial(harm_week, mu=mu, factor=1.0), args.quiet_weeks
            )
            for mu in (0.5, 2.0, 6.0)
        }
    )
    figures["in_control_arl_weeks"] = arl

    args.out.mkdir(parents=True, exist_ok=True)
    horizon_series = [
        Series(f"within {h} weeks", [(d, by_shift[d][h]) for d in SHARE_SHIFTS]) for h in HORIZONS
    ]
    (args.out / "oc_positive_share.svg").write_text(line_chart(
        "Positive share falls by d at 50 responses a week", "fall in positive share",
        "probability of detection", horizon_series))  # fmt: skip
    size_series = [
        Series(f"within {h} weeks", [(n, by_size[n][h]) for n in RESPONSES]) for h in HORIZONS
    ]
    (args.out / "oc_responses.svg").write_text(line_chart(
        "Positive share falls by 0.15: by unit size", "responses a week",
        "probability of detection", size_series))  # fmt: skip
    harm_series = [
        Series(f"{mu:g} a week, within {h} weeks", [(m, by_harm[(mu, m)][h]) for m in HARM_FACTORS])
        for mu in (2.0, 6.0)
        for h in (4, 8)
    ]
    (args.out / "oc_harm.svg").write_text(line_chart(
        "Harmful incidents multiplied", "rate multiplied by", "probability of detection",
        harm_series))  # fmt: skip
    (args.out / "oc_duration.svg").write_text(line_chart(
        "Positive share falls by 0.15 at 50 a week: by duration", "weeks the fall lasts",
        "probability of detection within 8 weeks",
        [Series("within 8 weeks", sorted(by_length.items()))]))  # fmt: skip
    print(json.dumps(_jsonable(figures), indent=1))


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, float):
        return round(value, 3) if math.isfinite(value) else "inf"
    return value


if __name__ == "__main__":
    main()
