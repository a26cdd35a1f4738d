"""How a measure's windows are judged and when they signal: the Shewhart runs and the two
CUSUM designs (`Rules`), and the names the runs go by in evidence (`rule_name`). The
calibrated defaults are `DetectionConfig`'s (pipeline/core/detection/base.py); the judging
itself is `pipeline.core.detection.stats.monitor`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.core.detection.cusum import CUSUM, CUSUM_SMALL, RATE_RISE, CusumDesign

BEYOND_LIMIT = "beyond_limit"


@dataclass(frozen=True, slots=True)
class Rules:
    """How a window is judged and when it signals (see `DetectionConfig` for the calibrated
    defaults). The level comes from the latest `max_baseline_windows` baseline windows, the
    between-window variation from the latest `dispersion_windows` (successive differences do
    not mind a slow drift, and a longer run of them is a steadier estimate), capped at
    `max_between_cv` times the level.

    `runs` holds (windows, sigma) pairs, in order of precedence: every window of a run of that
    many consecutive judged windows at or beyond that many sigma signals. (1, limit) is the
    single point beyond the process limit.

    `cusum_sampling_z`: the CUSUMs add up a z of their own, on the window's predictive less the
    level's estimation error (sampling and between-window variation only), summed exactly in
    every window; False: the rules' z (see `DetectionConfig.cusum_sampling_z`).

    `min_between_logit_sd`: for binomial counts, the rules' predictive allows at least this
    between-window sd of the logit (see `DetectionConfig.min_between_logit_sd`).

    `cusum_spread_prior_logit_sd`, `cusum_spread_prior_windows`: for binomial counts, the
    CUSUMs' own z reads the between-window variation estimated from the baseline's successive
    differences shrunk towards this sd of the logit, worth that many differences (0: the
    estimate as it is; see `DetectionConfig.cusum_spread_prior_windows`).

    `rate_rise_ratio`, `rate_rise_limit`: a rate judged on its own baseline also has the
    likelihood-ratio CUSUM of a rise to that many times usual (`detection.cusum`; limit 0: off).
    """

    min_baseline_windows: int
    max_baseline_windows: int
    runs: tuple[tuple[int, float], ...]
    dispersion_windows: int
    max_between_cv: float
    cusum_reference: float = 1.0
    cusum_limit: float = 0.0
    cusum_hold_windows: int = 8
    cusum_small_reference: float = 0.9
    cusum_small_limit: float = 0.0
    cusum_sampling_z: bool = False
    min_between_logit_sd: float = 0.0
    cusum_spread_prior_logit_sd: float = 0.0
    cusum_spread_prior_windows: int = 0
    rate_rise_ratio: float = 3.0
    rate_rise_limit: float = 0.0

    @property
    def longest_run(self) -> int:
        return max(length for length, _ in self.runs)

    @property
    def cusums(self) -> tuple[CusumDesign, ...]:
        """The accumulated-evidence detectors (`detection.cusum`); a limit of 0 turns one off."""
        return (
            CusumDesign(CUSUM, self.cusum_reference, self.cusum_limit),
            CusumDesign(CUSUM_SMALL, self.cusum_small_reference, self.cusum_small_limit),
        )

    @property
    def rate_rise(self) -> CusumDesign:
        """The rates' likelihood-ratio CUSUM; its `reference` is the rise ratio."""
        return CusumDesign(RATE_RISE, self.rate_rise_ratio, self.rate_rise_limit)


def rule_name(length: int, sigma: float) -> str:
    """'beyond_limit' for a single window, else e.g. 'run_of_3_beyond_2_sigma'."""
    return BEYOND_LIMIT if length == 1 else f"run_of_{length}_beyond_{sigma:g}_sigma"


class ShewhartRuns:
    """The open runs of `Rules.runs` over one series of judged windows (`stats.monitor`)."""

    __slots__ = ("lowest", "members", "running")

    def __init__(self, runs: tuple[tuple[int, float], ...]) -> None:
        self.members: list[tuple[int, float, str, list[int]]] = [
            (length, sigma, rule_name(length, sigma), []) for length, sigma in runs
        ]
        self.lowest = min(sigma for _, sigma in runs)
        self.running = False

    def add(self, t: int, score: float, signalled: list[int], rule: list[str]) -> None:
        """Window t's z extends every run whose line it reaches and ends the others; each
        window of a run that reached its length, not flagged before, is flagged at t."""
        if score < self.lowest:
            self.clear()
            return
        self.running = True
        for length, sigma, name, members in self.members:
            if score < sigma:
                members.clear()
                continue
            members.append(t)
            if len(members) >= length:
                for member in members:
                    if signalled[member] < 0:
                        signalled[member], rule[member] = t, name

    def clear(self) -> None:
        """End every open run."""
        if self.running:
            self.running = False
            for *_, members in self.members:
                members.clear()

    def state(self) -> tuple[bool, tuple[list[int], ...]]:
        """A copy of the open runs, for `restore`."""
        return self.running, tuple(members[:] for *_, members in self.members)

    def restore(self, state: tuple[bool, tuple[list[int], ...]]) -> None:
        self.running = state[0]
        for (*_, members), earlier in zip(self.members, state[1], strict=True):
            members[:] = earlier
