"""Episodes read from a unit's window states (`episodes`, `raised_states`), and an episode's
evidence and severity in an alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline.core.alerts import Severity
from pipeline.core.detection.base import DetectionConfig
from pipeline.core.detection.measures import UnitFigures


def episodes(states: Sequence[bool | None], max_gap: int) -> list[tuple[int, int, bool]]:
    """(first, last, ongoing) index of each episode in a sequence of window states.

    True: the window shows the condition; False: judged and it does not; None: not judged (no
    data, or targets not yet reported), which neither extends nor ends an episode. Up to
    `max_gap` False windows may separate two True ones of one episode. An episode is ongoing
    while no more than `max_gap` False windows have followed its last True one.
    """
    found: list[tuple[int, int, bool]] = []
    first = last = -1
    gap = 0
    for index, state in enumerate(states):
        if state is True:
            if first < 0:
                first = index
            last, gap = index, 0
        elif state is False and first >= 0:
            gap += 1
            if gap > max_gap:
                found.append((first, last, False))
                first = last = -1
    if first >= 0:
        found.append((first, last, True))
    return found


def raised_states(
    per_measure: Sequence[Sequence[bool | None]],
    max_gap: int,
    leaning: Sequence[Sequence[bool]] | None = None,
) -> list[bool | None]:
    """Per window, the state of several measures' states together (each True: shows the
    condition, False: judged and does not, None: not judged): True if any shows it; False if
    any is judged, but while an episode is open (as `episodes` reads them) only where a measure
    that showed the condition in it was judged: an episode ends on evidence of what raised it
    (harm judged while the feedback that raised a divergence stopped is no sign the feedback
    recovered); else None.

    `leaning` (per measure and window, True where the measure still leans towards the
    condition without showing it): while an episode is open, a window where any measure that
    showed the condition in it leans is None, whatever the others say, so the episode neither
    ends nor extends until none of its measures leans (one alert per shift, not one resolved
    because another of its measures settled)."""
    states: list[bool | None] = [None] * len(per_measure[0])
    raised: set[int] = set()
    gap = 0
    for t in range(len(states)):
        showing = {i for i, column in enumerate(per_measure) if column[t]}
        clear = {i for i, column in enumerate(per_measure) if column[t] is False}
        if showing:
            states[t], gap = True, 0
            raised |= showing
        elif clear and (not raised or (raised & clear and not _leans(leaning, raised, t))):
            states[t] = False
            gap += 1
            if gap > max_gap:
                raised = set()
    return states


def _leans(leaning: Sequence[Sequence[bool]] | None, measures: set[int], t: int) -> bool:
    return leaning is not None and any(leaning[i][t] for i in measures)


def episode_evidence(
    figures: UnitFigures,
    first: int,
    last: int,
    detected: int,
    flagged: int,
    ongoing: bool,
    peak: float,
) -> dict[str, Any]:
    """The `episode` part of an alert's evidence (indices into `figures.windows`)."""
    return {
        "first_window": figures.windows[first].start.isoformat(),
        "last_window": figures.windows[last].start.isoformat(),
        "detected_in_window": figures.windows[detected].start.isoformat(),
        "windows_flagged": flagged,
        "ongoing": ongoing,
        "peak_z": round(peak, 2),
    }


def severity(config: DetectionConfig, peak: float, windows: int, severe_harm: int) -> Severity:
    """High for a strong, long or harmful episode, medium for a clear one, low otherwise
    (see `DetectionConfig`)."""
    if peak >= config.high_sigma or windows >= config.high_windows or severe_harm:
        return Severity.HIGH
    if peak >= config.medium_sigma or windows >= config.medium_windows:
        return Severity.MEDIUM
    return Severity.LOW
