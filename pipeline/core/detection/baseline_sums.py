"""A monitor's baseline without some of its windows (`stats.monitor`'s `held_out`): a window
found, after it joined, to belong to a reporting silence leaves the usual level and the
successive differences from then on."""

from __future__ import annotations

from collections.abc import Collection, Sequence

Entry = tuple[int, int, float, float, float, float]
"""A baseline entry: window, count, scale, and the pair terms tying it to the entry before
(squared difference of ratios, sum of inverse scales, sum of inverse trials)."""
Sums = tuple[int, int, int, int, float, float, float, float, float, float, float, float, float]


def without(
    entries: list[Entry],
    pair_head: int,
    removed: Collection[int],
    trials: Sequence[int] | None,
    level_windows: int,
) -> Sums:
    """Append to `entries` those from `pair_head` on (the dispersion's) less the windows in
    `removed`, each tied to the one kept before it, and return the monitor's sums over them:
    (head, windows, pairs, pair_head, total, total_scale, total_scale2, pair_d2, pair_inverse,
    pair_binomial, last_ratio, last_inverse, last_binomial). The level is taken over the
    latest `level_windows` of them, so a window that left the level only because later ones
    joined returns to it: the usual level stays that of as many usual windows. Entries already
    there are left as they are (earlier windows' evidence points into them)."""
    kept = [e for e in entries[pair_head:] if e[0] not in removed]
    in_level = len(kept) - min(level_windows, len(kept))
    start = len(entries)
    windows = pairs = 0
    total = total_scale = total_scale2 = pair_d2 = pair_inverse = pair_binomial = 0.0
    last_ratio = last_inverse = last_binomial = 0.0
    for at, (window, count, scale, *_) in enumerate(kept):
        ratio, inverse = count / scale, 1.0 / scale
        binomial = 1.0 / trials[window] if trials is not None else 0.0
        if len(entries) > start:
            d2 = (ratio - last_ratio) ** 2
            pair_i, pair_b = inverse + last_inverse, binomial + last_binomial
            pairs += 1
            pair_d2 += d2
            pair_inverse += pair_i
            pair_binomial += pair_b
            entries.append((window, count, scale, d2, pair_i, pair_b))
        else:
            entries.append((window, count, scale, 0.0, 0.0, 0.0))
        last_ratio, last_inverse, last_binomial = ratio, inverse, binomial
        if at >= in_level:
            windows += 1
            total += count
            total_scale += scale
            total_scale2 += scale * scale
    sums = (total, total_scale, total_scale2, pair_d2, pair_inverse, pair_binomial)
    return (len(entries) - windows, windows, pairs, start, *sums, last_ratio, last_inverse,
            last_binomial)  # fmt: skip
