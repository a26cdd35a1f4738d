"""The detector's settings (`DetectionConfig`) and verdicts (`Finding`).

`pipeline.core.detection` re-exports both, beside `Detector`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.core.alerts import AlertKind, Severity
from pipeline.core.detection.cusum import CUSUM_RULES
from pipeline.core.detection.rules import Rules, rule_name
from pipeline.core.windows import Window, WindowKind


@dataclass(frozen=True, slots=True)
class DetectionConfig:
    """Every tunable of detection. The defaults were calibrated on simulated trusts of two
    independently written families (docs/detection.md, "Measured quality", has the figures on
    held-out seeds).

    - `min_baseline_windows`: windows of a unit's own history needed before it is judged.
    - `max_baseline_windows`: windows the unit's usual level is taken over (26 weeks: long
      enough for stable limits, short enough to follow a slow drift and the seasons).
    - `dispersion_windows`: windows its week-to-week variation is taken over (52: successive
      differences do not mind drift, and a short run of them is a noisy estimate; in
      simulation 26 raised a fifth more false alarms, mostly on big units).
    - `max_between_cv`: that variation is capped at this fraction of the level: a few noisy
      weeks of a small unit can otherwise inflate it enough to hide a tenfold rise (0.5 is
      twice the largest simulated; it cut the mean delay from 0.42 to 0.37 weeks at no cost).
    - `min_between_logit_sd`: the least between-window variation the rules' predictive
      allows a share (the experience measures), as an sd on the logit: 0.1. The
      successive-difference estimate over 52 windows where sampling dominates has a standard
      error over half of what it estimates and is clipped at 0, so a unit can be judged as if
      it had no good and bad weeks at all, and one chance week reads a sd high (the winter
      decoy alerts of issue 13's eighth round). Both simulated families draw at least 0.12.
      The CUSUMs' own z keeps the estimate (docs/detection.md, *Ninth round*), shrunk:
    - `cusum_spread_prior_logit_sd`, `cusum_spread_prior_windows`: for the shares, the
      CUSUMs' own z reads the successive-difference estimate of the between-window variation
      shrunk towards 0.2 on the logit (the middle of both simulated families' 0.12 to 0.32),
      worth 20 successive differences. Estimated from 10 to 52 windows, it came out at 0 to 1.5
      times the truth (quartiles), and a high estimate shares out every week's evidence of a
      drop: the family's missed drops had a median 1.6 times their true spread against 0.86 for
      those found. On the tuning seeds: 7 more of 482 found on the family and 8 false alarms
      fewer, 3 fewer on the simulator (docs/detection.md, *Eleventh round*). 0 windows: the
      estimate as it is.
    - `limit_sigma`: a single window whose exact tail probability is beyond this many sigma
      signals (5 sigma: 1 in 3.5 million windows of a stable unit). It was 4 until the CUSUMs
      took over sustained shifts: at 4, single chance weeks at 4.0 to 4.6 sigma were most of
      the false alarms on both simulated families (real weeks have heavier tails than the
      predictive), while every episode they caught was also caught otherwise.
    - `run_rules`: (windows, sigma) pairs: every window of a run of that many consecutive
      judged windows, each at or beyond that many sigma, signals. Two at 3 sigma (1 in
      550,000) and three at 2.5 sigma (1 in 4 million) are the Making Data Count "two of three
      near the limit" and "shift" ideas, made strict enough for the many charts (units ×
      measures × kinds) watched at once.
    - `cusum_reference`, `cusum_limit`, `cusum_small_reference`, `cusum_small_limit`: the
      accumulated-evidence detectors (`detection.cusum`), one-sided CUSUMs of each judged
      window's predictive z (the same exact z the rules read, so small and large weeks and
      overdispersion are allowed for) less what moved the unit's organisation:
      S = max(0, S + z - reference), signalling when S reaches the limit, then restarting from
      0 (as after any Shewhart signal). A reference k is tuned to shifts of about 2k
      predictive sd a week: 1.5 to shifts of about 3 sd a week, seen in one or two weeks;
      0.9 (`cusum_small_*`) to the smallest sustained shift an episode of up to 10 weeks must
      show to be evident at all (5.5 sd pooled over 10 weeks is 1.74 sd a week). The limits
      come from the in-control average run length of a standard normal z
      (`cusum.in_control_arl`): about 360,000 windows for (1.5, 3.6) and 53,000 for
      (0.9, 5.15), as for the (0.5, 9) it replaced, which gave away 0.5 sd of evidence a week
      less but needed 3.85 more. (1.5, 3.6) replaced (1, 8), whose run length of 46 million
      windows left it nothing to find that the rules did not (issue 13's fourth round); real
      units (drift, seasons, estimated baselines) shorten it by an order of magnitude or more,
      and three measures share a budget of 1 false alarm per 1,000 quiet unit-weeks. A limit
      of 0 turns a detector off. `cusum_small_reference` also marks a window that *leans
      worse*: one no rule flagged whose z reaches it (more likely under that CUSUM's shift than
      under none) neither ends nor extends a divergence or safety signal, so one weaker week
      does not split a fall into two alerts (issue 13's twelfth round).
    - `rate_rise_ratio`, `rate_rise_limit`: the harm rate's likelihood-ratio CUSUM
      (`cusum_rate_rise`, `detection.cusum`): the log-likelihood ratio of a window's harmful
      incidents under a rise to `rate_rise_ratio` times usual against usual, summed to
      `rate_rise_limit` (0: off). At about one harmful incident a week a tripled rate reads a
      z of 1.2 to 1.8 a week, which the z-CUSUMs keep little of. Limit 11: on the tuning
      seeds it added 1 false alarm in 78,465 quiet unit-weeks (family) and 2 in 18,784
      (simulator, one episode), and raises 18 of 40 QA tripled rises against 13 (issue 13's
      thirteenth round; 10 added 5 and 6 and an alert on a decoy).
    - `silence_limit`: the CUSUM limit (a log-likelihood ratio) of `reporting_silence`
      (incident reports per activity falling while activity holds; `detection.silence`).
    - `silence_baseline_windows`: windows the unit's usual reporting level is taken over (52,
      twice `max_baseline_windows`: the recent level below follows the seasons; issue 13's
      third round). On the simulated trusts it halved the false silences (8 to 4 over every
      seed set scored) for one real silence of 46 lost, just past its detectability line.
    - `silence_recent_windows`, `silence_recent_limit`: a silence must also stand out from
      the unit's recent level, that of its latest `silence_recent_windows` windows (half the
      baseline; an open excursion's included): a second CUSUM on that level must reach
      `silence_recent_limit`, so a level that fell over the seasons (the long baseline still
      holding the winter's higher rate) is not a silence. 5 of 8: on the tuning seeds it cut
      the quiet excursions reaching 6 from 13 to 8, and hand-made seasonal falls called a
      silence from 23 of 30 to 7, at a recall of planted silences of 0.928 against 0.933.
    - `cusum_hold_windows`: a window inside an open CUSUM excursion joins the baseline only
      once the excursion ends or it is this many windows old.
    - `common_windows`: the organisation's common movement taken out of the CUSUMs
      (`detection.common`) is estimated over this many windows, the current one and those
      before it (1: the current window alone, as until issue 13's sixth round). 8: on the
      family's tuning seeds it found 2 more of 118 sustained drops for 1 more false alarm in
      39,865 quiet unit-weeks (docs/detection.md, *Sixth round*).
    - `cusum_sampling_z`: the CUSUMs add up each window's z on its predictive less the
      level's estimation error (that error is shared by every window judged on the same
      level, so it does not average out in a sum; it is the limit, set for the measured run
      length, that allows for it), summed exactly in every window (the rules' z is screened
      by its normal approximation below the rule lines). False: the rules' z, as until issue
      13's seventh round. On the family's tuning seeds it found 1 more of 118 sustained drops
      and silences for 1 fewer false alarm in 39,865 quiet unit-weeks (docs/detection.md,
      *Seventh round*).
    - `max_gap_windows`: windows without the condition tolerated inside one episode.
    - `peer_sigma`: a masked dark spot needs the unit, in the same window, this far beyond what
      the rest of its organisation and its usual standing predict.
    - `min_reference_count`: events the rest of the organisation needs in a window before a unit
      is compared with it (fewer make the peers' own figure too noisy to compare with).
    - `medium_sigma`, `high_sigma`, `medium_windows`, `high_windows`: severity. An episode is
      high when its strongest window reaches `high_sigma`, it lasts `high_windows` flagged
      windows, or (for harm) it includes a severe harm or a death; medium at `medium_sigma` or
      `medium_windows`; low otherwise.
    """

    min_baseline_windows: int = 10
    max_baseline_windows: int = 26
    dispersion_windows: int = 52
    max_between_cv: float = 0.5
    limit_sigma: float = 5.0
    run_rules: tuple[tuple[int, float], ...] = ((2, 3.0), (3, 2.5))
    cusum_reference: float = 1.5
    cusum_limit: float = 3.6
    cusum_hold_windows: int = 8
    cusum_small_reference: float = 0.9
    cusum_small_limit: float = 5.15
    common_windows: int = 8
    cusum_sampling_z: bool = True
    min_between_logit_sd: float = 0.1
    cusum_spread_prior_logit_sd: float = 0.2
    cusum_spread_prior_windows: int = 20
    rate_rise_ratio: float = 3.0
    rate_rise_limit: float = 11.0
    silence_limit: float = 8.0
    silence_baseline_windows: int = 52
    silence_recent_windows: int = 13
    silence_recent_limit: float = 5.0
    max_gap_windows: int = 0
    peer_sigma: float = 3.0
    min_reference_count: int = 5
    medium_sigma: float = 5.0
    high_sigma: float = 6.0
    medium_windows: int = 2
    high_windows: int = 4

    def __post_init__(self) -> None:
        if not 2 <= self.min_baseline_windows <= self.max_baseline_windows:
            raise ValueError("need 2 <= min_baseline_windows <= max_baseline_windows")
        if self.dispersion_windows < self.max_baseline_windows or self.max_between_cv <= 0:
            raise ValueError("need dispersion_windows >= max_baseline_windows, max_between_cv > 0")
        if any(length < 2 or not 0 < sigma <= self.limit_sigma for length, sigma in self.run_rules):
            raise ValueError("run rules need at least 2 windows and 0 < sigma <= limit_sigma")
        if min(self.cusum_limit, self.cusum_reference, self.cusum_small_limit) < 0 or (
            self.cusum_small_reference < 0 or self.cusum_hold_windows < 1
        ):
            raise ValueError("need CUSUM references and limits >= 0, cusum_hold_windows >= 1")
        if not 2 <= self.silence_recent_windows <= self.max_baseline_windows or not (
            0 <= self.silence_recent_limit <= self.silence_limit
        ):
            raise ValueError(
                "need 2 <= silence_recent_windows <= max_baseline_windows and "
                "0 <= silence_recent_limit <= silence_limit"
            )
        if self.silence_baseline_windows < self.max_baseline_windows:
            raise ValueError("need silence_baseline_windows >= max_baseline_windows")
        if self.max_gap_windows < 0 or self.min_reference_count < 1:
            raise ValueError("need max_gap_windows >= 0 and min_reference_count >= 1")
        if self.rate_rise_ratio <= 1.0 or self.rate_rise_limit < 0:
            raise ValueError("need rate_rise_ratio > 1 and rate_rise_limit >= 0")
        if self.cusum_spread_prior_logit_sd < 0 or self.cusum_spread_prior_windows < 0:
            raise ValueError("need cusum_spread_prior_logit_sd and _windows >= 0")

    @classmethod
    def for_window_kind(cls, kind: WindowKind) -> DetectionConfig:
        """Defaults for weekly windows, or shorter baselines (in windows) for monthly ones."""
        if kind is WindowKind.MONTH:
            return cls(
                min_baseline_windows=6,
                max_baseline_windows=12,
                dispersion_windows=24,
                silence_baseline_windows=24,
                silence_recent_windows=6,
            )
        return cls()

    @property
    def rules(self) -> Rules:
        """The unit's own monitors: the Shewhart rules and the CUSUM."""
        return Rules(
            min_baseline_windows=self.min_baseline_windows,
            max_baseline_windows=self.max_baseline_windows,
            runs=((1, self.limit_sigma), *self.run_rules),
            dispersion_windows=self.dispersion_windows,
            max_between_cv=self.max_between_cv,
            cusum_reference=self.cusum_reference,
            cusum_limit=self.cusum_limit,
            cusum_hold_windows=self.cusum_hold_windows,
            cusum_small_reference=self.cusum_small_reference,
            cusum_small_limit=self.cusum_small_limit,
            cusum_sampling_z=self.cusum_sampling_z,
            min_between_logit_sd=self.min_between_logit_sd,
            cusum_spread_prior_logit_sd=self.cusum_spread_prior_logit_sd,
            cusum_spread_prior_windows=self.cusum_spread_prior_windows,
            rate_rise_ratio=self.rate_rise_ratio,
            rate_rise_limit=self.rate_rise_limit,
        )

    @property
    def shewhart_rules(self) -> Rules:
        """The Shewhart rules alone: what the organisation-level comparisons use (a dark spot
        is one unit standing out in the same window, not a slow accumulation)."""
        return Rules(
            min_baseline_windows=self.min_baseline_windows,
            max_baseline_windows=self.max_baseline_windows,
            runs=((1, self.limit_sigma), *self.run_rules),
            dispersion_windows=self.dispersion_windows,
            max_between_cv=self.max_between_cv,
        )

    def sigma_of(self, rule: str) -> float:
        """The line a window flagged by `rule` crossed (the process limit for the CUSUM, which
        crosses no line of its own on a single window)."""
        if rule in CUSUM_RULES:
            return self.limit_sigma
        return next(sigma for length, sigma in self.rules.runs if rule_name(length, sigma) == rule)


@dataclass(frozen=True, slots=True)
class Finding:
    """One episode of one condition at one unit, as the closed windows show it now.

    `first_window` is where the episode started (it drives the stable alert id) and
    `last_window` the latest window that still shows the condition; `ongoing` is True while no
    judged window since has cleared it. `detected_in` is the window whose closing first showed
    the episode (streaming would have raised it then; it may be later than `first_window` when
    a run rule needed a second window). `summary` is one sentence for a ward manager;
    `evidence` holds the figures behind it as JSON-able values.
    """

    kind: AlertKind
    org_id: str
    unit_id: str
    first_window: Window
    last_window: Window
    ongoing: bool
    severity: Severity
    summary: str
    evidence: dict[str, Any]
    detected_in: Window
