"""One measure of one unit, judged window by window against its own rolling baseline.

Every measure is a count x in a window with a known scale m (negative responses out of n, m = n,
binomial; harmful incidents per 1,000 activity, m = the activity in thousands, Poisson; either
relative to the organisation's peers, m = n × the peers' share). The unit's usual ratio
θ = E[x] / m comes from its baseline windows, and the window is judged on the *predictive*
distribution of x (`detection.predictive`), whose variance adds sampling at m·θ, the
between-window variation τ² of the ratio (from successive differences of the baseline ratios
less their sampling part: Laney p′, but additive), the uncertainty of θ and, for a peer
comparison, the peers' own sampling noise (docs/detection.md, The method).

Windows are judged in time order, so a verdict depends on earlier windows only: the detector is
causal, and its delay is what streaming would see. Windows that signal never enter a later
baseline, so a deterioration stays flagged until it ends rather than becoming the new normal.
A window joins the baseline only once no later run could still flag it. Running sums make each
window O(1) (docs/detection.md, Cost).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Any

from pipeline.core.detection.baseline_sums import without
from pipeline.core.detection.blocks import Written
from pipeline.core.detection.cusum import Z_RANGE, Accumulators
from pipeline.core.detection.predictive import (
    PRIOR_COUNT,
    SCREEN_MARGIN,
    SCREEN_MIN_CONCENTRATION,
    exact_z,
)
from pipeline.core.detection.resume import EVERY, KEEP, Checkpoints
from pipeline.core.detection.rules import Rules, ShewhartRuns
from pipeline.core.detection.trace import Trace

_CHECKPOINTS = Checkpoints("monitor")
CUSUM_Z_RANGE = Z_RANGE


def monitor(
    counts: Sequence[int],
    scales: Sequence[float],
    trials: Sequence[int] | None,
    reference_relvar: Sequence[float] | None,
    rules: Rules,
    offsets: Sequence[float] | None = None,
    resets: Sequence[bool] | None = None,
    held_out: Sequence[int] | None = None,
) -> Trace:
    """Judge each window's count against the unit's earlier windows.

    `scales[t]` is m for window t (0 when the window has no data for this measure); `trials`
    the binomial sizes (None for Poisson counts); `reference_relvar` the relative variance of a
    peer reference folded into m (None for an own-baseline monitor). A window signals when its z
    belongs to a run of `rules.runs` (see `Rules`), or when a CUSUM of z less `offsets[t]`
    (what moved the unit's whole organisation that window; `pipeline.core.detection.common`)
    reaches its limit (`rules.cusums`), or, for a rate on its own baseline (no trials, no
    reference), the likelihood-ratio CUSUM of a rise does (`rules.rate_rise`). Any signal
    restarts the CUSUMs. Where `resets[t]` is
    True they restart at window t and take nothing from it (experience is only evidence of a
    divergence while the unit meets its targets: weeks of a missed target must not be carried
    into the first met week), and no run spans a change between reset and other windows (a run
    of missed weeks still flags those weeks, never the met week after them, nor the reverse).
    Where `held_out[t]` is not -1, window t is found, when window `held_out[t]` closes, to be
    missing data (a reporting silence), not the unit's usual: from then on it is out of the
    baseline (left, or never joining).
    """
    # This loop runs for every window of every measure on every call, so it keeps its sums in
    # locals and its baseline in append-only lists with a moving head.
    size = len(counts)
    z, means, extras = [math.nan] * size, [math.nan] * size, [0.0] * size
    signalled, rule = [-1] * size, [""] * size
    first_entry, end_entry = [0] * size, [0] * size
    runs = ShewhartRuns(rules.runs)
    lowest = runs.lowest
    run_length = rules.longest_run
    min_windows, max_windows = rules.min_baseline_windows, rules.max_baseline_windows
    dispersion_windows = max(rules.dispersion_windows, max_windows)
    sqrt = math.sqrt
    pair_head = 0
    cap = rules.max_between_cv * rules.max_between_cv
    screen = lowest - SCREEN_MARGIN
    cusum, cusum_small, rate_rise = [math.nan] * size, [math.nan] * size, [math.nan] * size
    # A rate judged on its own baseline has the rate-rise CUSUM too (`detection.cusum`).
    rate_on = trials is None and reference_relvar is None and rules.rate_rise_limit > 0.0
    accumulators = Accumulators(rules.cusums + ((rules.rate_rise,) if rate_on else ()))
    rise_ratio = rules.rate_rise_ratio
    cusum_on = bool(accumulators)
    hold = rules.cusum_hold_windows
    sampling_z = rules.cusum_sampling_z
    floor_sd = rules.min_between_logit_sd
    prior_pairs = rules.cusum_spread_prior_windows if trials is not None else 0
    prior_sd = rules.cusum_spread_prior_logit_sd
    if cusum_on:
        # A CUSUM needs the exact z of every window near its reference, not only near the
        # rule lines (the normal z overstates a right-skewed count).
        references = [d.reference for d in accumulators.designs[:2] if d.limit > 0.0]
        screen = min(screen, min(references, default=screen) - SCREEN_MARGIN)
    statistics = accumulators.statistics
    fast_on, small_on = (design.limit > 0.0 for design in accumulators.designs[:2])
    open_since = -1
    # Windows with data not yet in the baseline, oldest first, with their position among them.
    pending: deque[tuple[int, int]] = deque()
    position = -1
    # Baseline entries (window, count, scale, pair terms tying it to the entry before), oldest
    # first; the level is taken over entries from `head`, the dispersion from `pair_head`.
    entries: list[tuple[int, int, float, float, float, float]] = []
    head = 0
    windows = pairs = 0
    total = total_scale = total_scale2 = 0.0
    pair_d2 = pair_inverse = pair_binomial = 0.0
    last_ratio = last_inverse = last_binomial = 0.0
    found_at: dict[int, set[int]] = {}  # windows held out, by the window that found them
    for window, found in enumerate(held_out or ()):
        if found >= 0:
            found_at.setdefault(found, set()).add(window)
    # Whether the latest judged window was a reset one: a run never spans a change of it.
    was_reset = False
    # Resume from the longest prefix of these very inputs folded before (`detection.resume`).
    columns = (counts, scales, trials, reference_relvar, offsets, resets, held_out)
    start, saved = _CHECKPOINTS.resume(rules, columns, size)
    # Lists written only at their own window (saved states share them: `blocks.Written`).
    once_written: tuple[list[Any], ...] = (z, means, extras, first_entry, end_entry, cusum,
                                            cusum_small, rate_rise)  # fmt: skip
    written: Written | None = None  # `once_written` before the latest saved window
    kept: Written | None = None  # `entries` then
    flags: Written | None = None  # `signalled` and `rule`, which later windows may change
    if saved is not None:
        written, flags, members, sums, queue, kept, scalars = saved
        written.restore(once_written)
        flags.restore((signalled, rule))
        runs.restore(members)
        accumulators.restore(sums)
        pending.extend(queue)
        kept.restore((entries,))
        (open_since, position, head, windows, pairs, pair_head, total, total_scale, total_scale2,
         pair_d2, pair_inverse, pair_binomial, last_ratio, last_inverse, last_binomial,
         was_reset) = scalars  # fmt: skip
    for t in range(start, size + 1):  # the turn of `size` only saves the final state
        if t > start and (t % EVERY == 0 or t == size) and size - t <= KEEP:
            # Saved lists share the blocks of the state resumed or saved before (`Written`).
            written = Written(once_written, t, written)
            kept = Written((entries,), len(entries), kept)
            flags = Written((signalled, rule), t, flags, changing=True)
            _CHECKPOINTS.save(rules, columns, t, (
                written,
                flags,
                runs.state(),
                accumulators.state(),
                tuple(pending),
                kept,
                (open_since, position, head, windows, pairs, pair_head, total, total_scale,
                 total_scale2, pair_d2, pair_inverse, pair_binomial, last_ratio, last_inverse,
                 last_binomial, was_reset),
            ))  # fmt: skip
        if t == size:
            break
        scale = scales[t]
        if scale <= 0:
            continue
        if windows >= min_windows:
            theta = (total + PRIOR_COUNT) / total_scale
            between = 0.0
            if pairs:
                # Successive differences of ratios, less what sampling alone puts into them.
                between = (pair_d2 - theta * (pair_inverse - theta * pair_binomial)) / (2 * pairs)
                if between < 0.0:
                    between = 0.0
                elif between > cap * theta * theta:
                    between = cap * theta * theta
            # The rules allow a share at least the least spread (the estimate is noisy where
            # sampling dominates); the CUSUMs' own z below reads the estimate itself.
            judged_between = between
            if trials is not None:
                least = floor_sd * theta * (1.0 - theta)
                if between < least * least:
                    judged_between = least * least
            variance = judged_between * (1.0 + total_scale2 / (total_scale * total_scale))
            variance += theta / total_scale
            if reference_relvar is not None:
                variance += theta * theta * reference_relvar[t]
            mean = scale * theta
            extra = scale * scale * variance
            count = counts[t]
            if trials is None:
                n = None
                spread = mean + extra
                skewed = True
            else:
                n = trials[t]
                if mean >= n:
                    mean = n * (1.0 - 1e-9)
                binomial = mean - mean * mean / n
                spread = binomial + extra - extra / n
                skewed = mean + mean <= n and extra * SCREEN_MIN_CONCENTRATION <= binomial * n
            # Most windows are nowhere near a limit: their normal z is enough (see
            # SCREEN_MARGIN); the exact tail is summed only for the few that might be.
            root = sqrt(spread) if spread > 0.0 else 0.0
            if skewed and root > 0.0 and count - mean < screen * root:
                score = (count - mean) / root
            else:
                score = exact_z(count, mean, extra, n)
            z[t] = score
            means[t] = mean
            extras[t] = extra
            first_entry[t] = head
            end_entry[t] = head + windows
            if resets is not None and resets[t] != was_reset:
                # Weeks of a missed target and met weeks are different stories: a run of one
                # must not flag the other (as the CUSUMs restart at a missed target).
                was_reset = bool(resets[t])
                runs.clear()
            if score >= lowest or runs.running:
                runs.add(t, score, signalled, rule)
            if cusum_on and resets is not None and resets[t]:
                accumulators.reset()
            elif cusum_on:
                evidence = score
                if sampling_z:
                    # The level's error is shared by every window a CUSUM adds up, so it is
                    # the limit (set for the measured run length) that allows for it, not each
                    # window's variance; every window's tail is exact (the normal z of a low
                    # count is less negative, and a CUSUM reads low windows too).
                    own_between = between
                    if prior_pairs:
                        # A few dozen successive differences estimate the spread poorly (its
                        # error is shared by every window the CUSUM adds up, as the level's is):
                        # shrunk towards a typical spread, an estimate high by chance no longer
                        # hides a drop, nor one low by chance invents one.
                        prior = prior_sd * theta * (1.0 - theta)
                        own_between = (pairs * between + prior_pairs * prior * prior) / (
                            pairs + prior_pairs
                        )
                    evidence = exact_z(count, mean, scale * scale * own_between, n)
                fired = accumulators.add(
                    t, evidence - offsets[t] if offsets is not None else evidence
                )
                if fast_on:
                    cusum[t] = statistics[0]
                if small_on:
                    cusum_small[t] = statistics[1]
                if rate_on:
                    fired = accumulators.add_rise(t, count, mean, extra, rise_ratio, fired)
                    rate_rise[t] = statistics[2]
                if fired >= 0 and signalled[t] < 0:
                    # Where a Shewhart rule already flagged this window the evidence is its own.
                    accumulators.flag_excursion(fired, t, z, offsets, signalled, rule)
                if fired >= 0 or signalled[t] == t:
                    # Any signal spends the evidence: a CUSUM still holding a week a Shewhart
                    # rule called out would otherwise raise it again weeks later.
                    accumulators.reset()
            if cusum_on:
                open_since = accumulators.open_since()
        # A window joins the baseline once no later rule can still flag it: once it is
        # `longest_run` windows old and, with the CUSUM on, its excursion is over (or, for a
        # drift the CUSUM never confirms, `cusum_hold_windows` windows old).
        position += 1
        pending.append((t, position))
        ready: list[int] = []
        while pending:
            oldest, at = pending[0]
            age = position - at + 1
            # A window of the learning period was not judged, so no rule can flag it: it joins
            # at once, and the first window judged is the one after `min_baseline_windows`.
            judged = z[oldest] == z[oldest]  # not NaN
            if judged and (age < run_length or (0 <= open_since <= oldest and age < hold)):
                break
            pending.popleft()
            if signalled[oldest] < 0 and not (held_out and 0 <= held_out[oldest] <= t):
                ready.append(oldest)
        if found_at and t in found_at:
            (head, windows, pairs, pair_head, total, total_scale, total_scale2, pair_d2,
             pair_inverse, pair_binomial, last_ratio, last_inverse, last_binomial) = without(
                entries, pair_head, found_at[t], trials, max_windows)  # fmt: skip
        for oldest in ready:
            count, scale = counts[oldest], scales[oldest]
            ratio, inverse = count / scale, 1.0 / scale
            binomial = 1.0 / trials[oldest] if trials is not None else 0.0
            if windows:
                difference = ratio - last_ratio
                d2 = difference * difference
                pair_i, pair_b = inverse + last_inverse, binomial + last_binomial
                pairs += 1
                pair_d2 += d2
                pair_inverse += pair_i
                pair_binomial += pair_b
                entries.append((oldest, count, scale, d2, pair_i, pair_b))
            else:
                entries.append((oldest, count, scale, 0.0, 0.0, 0.0))
            last_ratio, last_inverse, last_binomial = ratio, inverse, binomial
            windows += 1
            total += count
            total_scale += scale
            total_scale2 += scale * scale
            if windows > max_windows:
                _, old_count, old_scale, *_ = entries[head]
                total -= old_count
                total_scale -= old_scale
                total_scale2 -= old_scale * old_scale
                head += 1
                windows -= 1
            if head + windows - pair_head > dispersion_windows:
                # The new oldest entry's pair with the evicted one leaves the sums.
                pair_head += 1
                _, _, _, d2, pair_i, pair_b = entries[pair_head]
                pairs -= 1
                pair_d2 -= d2
                pair_inverse -= pair_i
                pair_binomial -= pair_b
    return Trace(
        z,
        means,
        extras,
        trials,
        signalled,
        rule,
        cusum,
        cusum_small,
        rate_rise,
        entries,
        first_entry,
        end_entry,
    )
