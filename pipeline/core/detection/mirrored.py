"""The rules of `stats.monitor`, mirrored: run rules and a CUSUM on improvement z, for the
bright spots (`detection.bright`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from pipeline.core.detection.base import DetectionConfig
from pipeline.core.detection.blocks import Written
from pipeline.core.detection.cusum import CUSUM
from pipeline.core.detection.resume import EVERY, KEEP, Checkpoints
from pipeline.core.detection.stats import CUSUM_Z_RANGE

# The mirrored CUSUM's (reference, limit): the alerts' large-shift design before issue 13's
# fourth round moved theirs to (1.5, 3.6); bright spots keep it, so their false rate stays as
# measured (docs/detection.md, Bright spots). The alerts' `cusum_limit` 0 still turns it off.
BRIGHT_CUSUM = (1.0, 8.0)


def mirrored_rules(
    z: Sequence[float], offsets: Sequence[float], config: DetectionConfig
) -> tuple[list[int], list[str], list[bool]]:
    """The run rules and the CUSUM of `stats.monitor`, on improvement z (see the module
    docstring): per window, the window whose closing flagged it, the detector, and whether the
    CUSUM statistic was above 0 after it."""
    size = len(z)
    signalled, detector, accumulating = [-1] * size, [""] * size, [False] * size
    runs: list[tuple[int, float, list[int]]] = [(n, sigma, []) for n, sigma in config.run_rules]
    low, high = CUSUM_Z_RANGE
    reference, limit = BRIGHT_CUSUM if config.cusum_limit > 0 else (0.0, 0.0)
    statistic = 0.0
    excursion: list[int] = []
    # Resume from the longest prefix of these very inputs folded before (`detection.resume`):
    # the state before window t reads z and offsets of windows before t alone.
    head, columns = (config.run_rules, reference, limit), (z, offsets)
    start, saved = _CHECKPOINTS.resume(head, columns, size)
    written: Written | None = None  # `accumulating`, written only at its own window: shared
    flags: Written | None = None  # `signalled` and `detector`, which later windows may change
    if saved is not None:
        flags, written, members, (statistic, kept) = saved
        flags.restore((signalled, detector))
        written.restore((accumulating,))
        for (*_, run), earlier in zip(runs, members, strict=True):
            run[:] = earlier
        excursion = list(kept)
    for t in range(start, size + 1):  # the turn of `size` only saves the final state
        if t > start and (t % EVERY == 0 or t == size) and size - t <= KEEP:
            written = Written((accumulating,), t, written)
            flags = Written((signalled, detector), t, flags, changing=True)
            _CHECKPOINTS.save(head, columns, t, (
                flags, written,
                tuple(run[:] for *_, run in runs), (statistic, tuple(excursion)),
            ))  # fmt: skip
        if t == size:
            break
        score = z[t]
        if math.isnan(score):
            continue
        for length, sigma, members in runs:
            if score < sigma:
                members.clear()
                continue
            members.append(t)
            if len(members) >= length:
                for member in members:
                    if signalled[member] < 0:
                        signalled[member], detector[member] = t, "shewhart"
        if limit <= 0:
            continue
        statistic += min(max(score - offsets[t], low), high) - reference
        if statistic <= 0.0:
            statistic, excursion = 0.0, []
            continue
        excursion.append(t)
        accumulating[t] = True
        if statistic >= limit:
            for member in reversed(excursion):
                if z[member] <= reference + offsets[member]:
                    break
                if signalled[member] < 0:
                    signalled[member], detector[member] = t, CUSUM
            statistic, excursion = 0.0, []
    return signalled, detector, accumulating


_CHECKPOINTS = Checkpoints("mirrored")  # fold states of `mirrored_rules`
