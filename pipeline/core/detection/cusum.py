"""Accumulated evidence: one-sided CUSUMs of a measure's window z, run side by side.

Each design is S = max(0, S + z - k), signalling when S reaches h, where z is the window's exact
predictive z (less what moved the unit's organisation, `detection.common`) clipped to
`Z_RANGE`. A CUSUM with reference k is tuned to a shift of about 2k predictive sd a week, so
two run together:

- `cusum` (k 1.5, limit 3.6): shifts of about 3 sd a week, seen in one or two weeks, at a run
  length of 360,000 windows (it was k 1, limit 8, a run length of 46 million, until issue 13's
  fourth round: the two now share the budget, the small-shift one taking most of it);
- `cusum_small_shift` (k 0.9, limit 5.15): sustained shifts of under 2 sd a week that no
  single window and no run shows (a positive share 0.12 lower for 8 weeks at 40 responses a
  week, say). k 0.9 matches the smallest shift an episode of up to 10 weeks must show to be
  evident at all: 5.5 sd pooled over 10 weeks is 1.74 sd a week. At the same in-control run
  length, k 0.5 (limit 9) needed 3.85 more units of evidence before it signalled, which
  shorter episodes of 2 to 2.5 sd a week often did not give it.

Their limits follow from an in-control average run length (ARL) stated for a z that is
standard normal (Siegmund's approximation, `in_control_arl`): with the defaults both are
above 50,000 windows per measure (together about 46,000), so that the drift, seasons and
estimated baselines of real units, which shorten it, still leave the false-alarm budget (0.1
per 100 quiet unit-weeks over three measures and every kind) for them. After either signals
both restart from 0: the evidence has been spent.

A z-CUSUM is the wrong tool for a rate of about one event a window: a tripled week at a usual
1.2 reads a z of only 1.2 to 1.8, of which k keeps little. So a rate (a Poisson count judged
on the unit's own baseline) has a third, `cusum_rate_rise`: the log-likelihood ratio of the
window's count under "the rate rose to `ratio` times usual" against "usual", both on the
window's predictive (as `reporting_silence` does for a fall), signalling at its own limit
(issue 13's thirteenth round, QA D). It restarts with the others.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.core.detection.predictive import log_pmf

CUSUM = "cusum"
CUSUM_SMALL = "cusum_small_shift"
RATE_RISE = "cusum_rate_rise"
CUSUM_RULES = (CUSUM, CUSUM_SMALL, RATE_RISE)
# A window's z enters a CUSUM clipped to this range: one extreme week is the Shewhart rules'
# business, and one very quiet week should not wipe out weeks of evidence at once.
Z_RANGE = (-3.0, 4.0)


@dataclass(frozen=True, slots=True)
class CusumDesign:
    """One CUSUM: its rule name, reference k and limit h (h 0: off)."""

    rule: str
    reference: float
    limit: float


def in_control_arl(reference: float, limit: float) -> float:
    """Siegmund's approximation of the average run length to a signal of a one-sided CUSUM of
    standard normal scores: (e^(2kb) - 2kb - 1) / (2k²) with b = h + 1.166."""
    b = limit + 1.166
    if reference <= 0.0:
        return b * b
    exponent = 2.0 * reference * b
    return (math.exp(exponent) - exponent - 1.0) / (2.0 * reference * reference)


class Accumulators:
    """The running statistics of several `CusumDesign`s over one series of windows; the last
    design may be a `RATE_RISE` one (its reference unused), fed by `add_rise`."""

    __slots__ = ("designs", "excursions", "rises", "statistics")

    def __init__(self, designs: tuple[CusumDesign, ...]) -> None:
        self.designs = designs
        self.statistics = [0.0] * len(self.designs)
        # Per design: judged windows since its statistic was last 0.
        self.excursions: list[list[int]] = [[] for _ in self.designs]
        # The rate-rise design's evidence of each window of its excursion.
        self.rises: list[float] = []

    def __bool__(self) -> bool:
        return any(design.limit > 0.0 for design in self.designs)

    def reset(self) -> None:
        for i in range(len(self.designs)):
            self.statistics[i] = 0.0
            self.excursions[i].clear()
        self.rises.clear()

    def add(self, t: int, score: float) -> int:
        """Window t's z (less any offset) joins every statistic; the index of the first design
        that reached its limit (its statistic and excursion are left for the caller to read
        before `reset`), else -1."""
        low, high = Z_RANGE
        clipped = min(max(score, low), high)
        fired = -1
        for i, design in enumerate(self.designs):
            if design.limit <= 0.0 or design.rule == RATE_RISE:
                continue
            statistic = self.statistics[i] + clipped - design.reference
            if statistic <= 0.0:
                statistic = 0.0
                self.excursions[i].clear()
            else:
                self.excursions[i].append(t)
            self.statistics[i] = statistic
            if fired < 0 and statistic >= design.limit:
                fired = i
        return fired

    def add_rise(
        self, t: int, count: int, mean: float, extra: float, ratio: float, fired: int
    ) -> int:
        """Window t's log-likelihood ratio of "the rate rose to `ratio` times usual" against
        "usual" (its count on a gamma-Poisson predictive of `mean` and `extra` variance, both
        scaled) joins the last design's statistic, clipped to ± its limit (one window neither
        proves nor wipes out a rise); `fired` from `add`, or this design's index where it is
        the first to reach its limit."""
        i = len(self.designs) - 1
        limit = self.designs[i].limit
        rise = log_pmf(count, mean * ratio, extra * ratio * ratio, None)
        rise -= log_pmf(count, mean, extra, None)
        statistic = self.statistics[i] + min(max(rise, -limit), limit)
        if statistic <= 0.0:
            statistic = 0.0
            self.excursions[i].clear()
            self.rises.clear()
        else:
            self.excursions[i].append(t)
            self.rises.append(rise)
        self.statistics[i] = statistic
        return i if fired < 0 and statistic >= limit else fired

    def flag_excursion(
        self,
        fired: int,
        t: int,
        z: list[float],
        offsets: Sequence[float] | None,
        signalled: list[int],
        rule: list[str],
    ) -> None:
        """Design `fired` signalled at window t: flag, at t, the latest unbroken stretch of its
        excursion's windows whose z (less any offset) was above its reference, where the
        evidence came from, as one episode (earlier windows of a long excursion are not called
        out on such thin evidence); windows flagged before keep their flag."""
        design = self.designs[fired]
        excursion = self.excursions[fired]
        for at in range(len(excursion) - 1, -1, -1):
            member = excursion[at]
            if design.rule == RATE_RISE:
                if self.rises[at] <= 0.0:  # pointed away from a rise
                    break
            elif z[member] <= design.reference + (offsets[member] if offsets is not None else 0.0):
                break
            if signalled[member] < 0:
                signalled[member], rule[member] = t, design.rule

    def state(self) -> tuple[list[float], tuple[list[int], ...], list[float]]:
        """A copy of the statistics and excursions, for `restore`."""
        excursions = tuple(excursion[:] for excursion in self.excursions)
        return self.statistics[:], excursions, self.rises[:]

    def restore(self, state: tuple[list[float], tuple[list[int], ...], list[float]]) -> None:
        self.statistics[:] = state[0]
        for excursion, earlier in zip(self.excursions, state[1], strict=True):
            excursion[:] = earlier
        self.rises[:] = state[2]

    def open_since(self) -> int:
        """The first window of the oldest open excursion (-1: none is open)."""
        starts = [excursion[0] for excursion in self.excursions if excursion]
        return min(starts) if starts else -1
