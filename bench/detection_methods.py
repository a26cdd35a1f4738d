"""Why exact predictive limits: five ways to judge a week's negative FFT share, compared on
simulated quiet units with week-to-week overdispersion.

Each unit class is simulated for many independent years: weekly responses ~ Poisson, the week's
true share varies on the logit scale (sd `spread`), and the week's negatives are binomial. Every
method judges weeks 27 to 60 against the 26 weeks before them, at its textbook 3-sigma setting,
so the false-alarm rate can be read against the nominal 1.35 per 1,000 weeks:

- XmR: Making Data Count chart of the weekly shares (`pipeline.core.spc.xmr`, limits fixed on
  the 26 baseline weeks), single point beyond the upper process limit; and with all four rules;
- p-chart: binomial 3-sigma limit for the week's n (`pipeline.core.proportions`);
- Laney p′: the p-chart limit widened by the baseline's sigma_z;
- CUSUM: one-sided, on the p-chart z-scores (k = 0.5, h = 5, reset after a signal);
- exact predictive: `pipeline.core.detection.predictive.baseline_predictive` (beta-binomial with the
  baseline's estimated overdispersion and uncertainty), z from the exact tail.

`power` is the share of single weeks caught when the week's odds of a negative response are
multiplied by `SHIFT_ODDS`. docs/detection.md has the table; `python -m bench.detection_methods`
prints it.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pipeline.core.detection import DetectionConfig
from pipeline.core.detection.predictive import baseline_predictive
from pipeline.core.proportions import laney_p_prime_limits, p_chart_limits
from pipeline.core.spc import Direction, PointType, SpecialCauseRule, xmr
from pipeline.simulation.units import expit, logit

BASELINE_WEEKS = 26
JUDGED_WEEKS = 34
SHIFT_ODDS = 4.0
SIGMA = 3.0
CUSUM_K, CUSUM_H = 0.5, 5.0


@dataclass(frozen=True, slots=True)
class UnitClass:
    name: str
    responses_per_week: float
    negative_share: float
    spread: float  # sd of the weekly logit of the true share


UNIT_CLASSES = (
    UnitClass("small unit: 8 responses a week, 4% negative", 8, 0.04, 0.2),
    UnitClass("ward: 25 responses a week, 5% negative", 25, 0.05, 0.2),
    UnitClass("emergency department: 280 a week, 12% negative", 280, 0.12, 0.2),
)


@dataclass(frozen=True, slots=True)
class MethodResult:
    unit_class: str
    method: str
    false_alarms_per_1000_weeks: float
    power: float


Week = tuple[int, int]  # (negatives, responses)
Judge = Callable[[Sequence[Week], Week], bool]


def _xmr_judge(all_rules: bool) -> Judge:
    def judge(baseline: Sequence[Week], week: Week) -> bool:
        values = [x / n for x, n in (*baseline, week) if n]
        chart = xmr(values, improvement=Direction.DECREASE, fix_after_n_points=len(values) - 1)
        last = chart.points[-1]
        if last.point_type is not PointType.SPECIAL_CAUSE_CONCERN:
            return False
        return all_rules or last.special_cause_rule is SpecialCauseRule.OUTSIDE_LIMITS

    return judge


def _p_judge(laney: bool) -> Judge:
    def judge(baseline: Sequence[Week], week: Week) -> bool:
        counts, sizes = [x for x, n in baseline if n], [n for _, n in baseline if n]
        chart = laney_p_prime_limits(counts, sizes) if laney else p_chart_limits(counts, sizes)
        x, n = week
        sigma = chart.sigma_z * math.sqrt(chart.centre * (1 - chart.centre) / n)
        return x / n > chart.centre + SIGMA * sigma

    return judge


def _exact_judge(baseline: Sequence[Week], week: Week) -> bool:
    counts = [x for x, _ in (*baseline, week)]
    sizes = [n for _, n in (*baseline, week)]
    used = [i for i in range(len(baseline)) if sizes[i]]
    cv = DetectionConfig().max_between_cv
    predictive = baseline_predictive(counts, sizes, sizes, used, len(baseline), 0.0, cv)
    return predictive.z(week[0]) >= SIGMA


def _cusum_false_alarms(series: Sequence[Week]) -> int:
    """Signals of a one-sided CUSUM of p-chart z-scores over the judged weeks."""
    signals, total = 0, 0.0
    for t in range(BASELINE_WEEKS, len(series)):
        baseline = [w for w in series[t - BASELINE_WEEKS : t] if w[1]]
        chart = p_chart_limits([x for x, _ in baseline], [n for _, n in baseline])
        x, n = series[t]
        sigma = math.sqrt(chart.centre * (1 - chart.centre) / n)
        # A baseline without a single negative collapses the p-chart's limits onto zero.
        z = (x / n - chart.centre) / sigma if sigma else (math.inf if x else 0.0)
        total = max(0.0, total + z - CUSUM_K)
        if total > CUSUM_H:
            signals, total = signals + 1, 0.0
    return signals


def _week(rng: random.Random, unit: UnitClass, odds: float = 1.0) -> Week:
    responses = max(1, _poisson(rng, unit.responses_per_week))
    share = expit(logit(unit.negative_share) + math.log(odds) + rng.gauss(0.0, unit.spread))
    return sum(rng.random() < share for _ in range(responses)), responses


def _poisson(rng: random.Random, mean: float) -> int:
    if mean > 30:
        return round(rng.gauss(mean, math.sqrt(mean)))
    threshold, count, product = math.exp(-mean), 0, rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


def compare_methods(
    seed: int = 1, years: int = 200, classes: Sequence[UnitClass] = UNIT_CLASSES
) -> list[MethodResult]:
    """False alarms and power of each method on each unit class (see the module docstring)."""
    rng = random.Random(seed)
    judges: dict[str, Judge] = {
        "XmR, point beyond the limit": _xmr_judge(all_rules=False),
        "XmR, all four MDC rules": _xmr_judge(all_rules=True),
        "p-chart": _p_judge(laney=False),
        "Laney p′": _p_judge(laney=True),
        "exact predictive (this pipeline)": _exact_judge,
    }
    results = []
    for unit in classes:
        series = [
            [_week(rng, unit) for _ in range(BASELINE_WEEKS + JUDGED_WEEKS)] for _ in range(years)
        ]
        shifted = [_week(rng, unit, SHIFT_ODDS) for _ in range(years)]
        for method, judge in judges.items():
            alarms = sum(
                judge(s[t - BASELINE_WEEKS : t], s[t])
                for s in series
                for t in range(BASELINE_WEEKS, len(s))
            )
            caught = sum(
                judge(s[:BASELINE_WEEKS], week) for s, week in zip(series, shifted, strict=True)
            )
            results.append(
                MethodResult(
                    unit.name, method, 1000 * alarms / (years * JUDGED_WEEKS), caught / years
                )
            )
        cusum = sum(_cusum_false_alarms(s) for s in series)
        results.append(
            MethodResult(
                unit.name, "CUSUM of p-chart z", 1000 * cusum / (years * JUDGED_WEEKS), math.nan
            )
        )
    return results


def main() -> None:
    """Print the comparison as a Markdown table."""
    sys.stdout.write("| unit | method | false alarms per 1,000 weeks | weeks caught at odds ×4 |\n")
    sys.stdout.write("|---|---|---:|---:|\n")
    for row in compare_methods():
        power = "n/a" if math.isnan(row.power) else f"{row.power:.0%}"
        alarms = f"{row.false_alarms_per_1000_weeks:.1f}"
        sys.stdout.write(f"| {row.unit_class} | {row.method} | {alarms} | {power} |\n")


if __name__ == "__main__":
    main()
