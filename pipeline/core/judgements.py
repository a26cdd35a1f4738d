"""What an organisation's stored alerts were judged on, so a restore judges only what changed.

Detection is a function of an organisation's closed windows and its responses (the learning
loop), nothing else. After each batch whose judgement of an organisation was stored (alert
versions and board rows), the step stores a `JudgedMark`: the watermark the judgement closed
windows by, and a digest of what it read. On restore, an organisation whose restored windows
ending by that mark, and whose responses, give the same digest (and which has no window closed
since) was judged on exactly what is restored and its alerts were stored: judging it again
would raise nothing, so it is not judged until its windows change. Any other organisation (a
crash between storing its windows and its alerts, a watermark that moved on, a changed
configuration) is judged at restore, as before, so no alert a crash left unstored is lost.

A wrong or stale mark can only cost a judgement: the digest is of content, and content only
grows (windows by the events they count, the ledger by responses), so an old mark never
matches newer state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from pipeline.core.aggregates import UnitWindowAggregate
from pipeline.core.detection.resume import Suffixes
from pipeline.core.learning import ResponseRecord
from pipeline.core.windows import Window

UnitKey = tuple[str, str]
JUDGEMENT_RULES = 28
"""Bump when detection or the learning loop change what they raise from the same inputs:
stored marks then no longer match, and every organisation is judged again at restore.
2: no Shewhart run spans missed-target and met weeks; 3: least spread; 4: a silence week
needs feedback at or above the exact Poisson lower point of the unit's usual volume, and the
organisation's common movement reaches a unit at most at the precision of the others together;
5: harm and reporting are judged only from a unit's first incident report, and an episode ends
only where a measure that raised it was judged (QA, 13th session);
6: the CUSUMs' own z of a share reads its spread shrunk towards a typical one;
7: a window leaning worse (z at least the sustained-shift CUSUM's reference) that no rule
flagged neither ends nor extends a divergence or safety signal (14th session);
8: a verdict's improvement reads the bright spots' own-baseline signals, a missed-target
window's experience concern also the monitor without restarts at missed targets, and a harm
window with nothing reported (activity only) has no verdict (14th session);
9: a silence week's activity holds against the unit's recent volume, and the harm rate has the
likelihood-ratio CUSUM of a rise, `cusum_rate_rise` (15th session);
10: an arrival gate on harm and reporting (16th session; reverted: two workers judged the
last windows differently from one);
11: a found reporting silence's weeks leave the harm rate's baseline (16th session);
12: an open episode neither ends nor extends while any measure that raised it leans worse
(16th session);
13: the same for a masked dark spot, in a window that does not show but where a view that
raised it leans worse on the unit's own chart (17th session);
14: harm and reporting are judged only in windows the organisation's incident reports have
passed, or that its other sources passed two windows before (arrivals.py; 18th session);
16: an open reporting silence neither ends nor extends in a window whose reports still lean
towards silence against both its levels (18th session; 15 was not used);
17: such a window of an open silence is a `reporting_concern` in the stored verdicts, harm's
and reporting's (18th session);
18: the board's target row is one point per return in force with its points stored (19th
session);
19: a `false_positive` dismisses only the family members detected by its time (and the one it
names), and an alert's `evidence.due_by` is its latest answer's (19th session);
20: the board's target row charts only the latest run of returns without a gap (a moving range
across missing years joined 2016-19 to 2024-25 A&E returns; 19th session);
21: every judgement stores all three board measures (a `withdrawn` row where nothing is
current), every target metric of a unit (`mdc_targets`, not only the board's main one), and an
alert's `evidence.episode_group.answered`, family-wide `due_by` and `owner` (20th session);
22: an alert's `evidence.first_answer` and `first_acknowledgement`, of the answers that answer
it (21st session);
23: a board row (experience, safety) whose window has no verdict (the learning period) is
`not_judged`, no longer the XmR reading (21st session);
24: an alert's `evidence.answered_by`, the event ids of the answers that answer it (24th
session);
25: the recovery verdict's pre-alert baseline leaves out windows in which nothing was reported
(a target return reaching back before the unit's data counted as weeks without harm; 24th
session);
26: a board row is as of its measure's latest window with a verdict, though nothing was
reported in it (a unit whose reporting stopped), and an alert's summary writes its counts with
thousands separators (24th session);
27: a silence week's activity holds by the unit's own reported activity where known, whatever its
feedback; weeks only a target return reaches (past the organisation's latest feedback or
reports) neither judge harm and reporting at the input's end nor count towards the stall bound
(25th session);
28: a `false_positive` dismisses (and answers) only the family members raised on a measure the
alert it names was raised on, and a reporting silence's recovery is judged on its incident
reports, fewer being worse (it was judged on harm and feedback: a lasting silence read
"improved"), and a harm measure is not "improved" while incident reporting fell since the
action (26th session)."""


@dataclass(frozen=True, slots=True)
class JudgedMark:
    """One organisation's judgement as stored: windows ending by `mark` were closed."""

    org_id: str
    mark: datetime | None
    digest: str
    judged_at: datetime
    """The judgement's alert stamp: orders marks (the latest wins)."""


def fingerprint(*parts: object) -> str:
    """What, besides the windows and responses, decides the verdicts (configuration)."""
    return repr((JUDGEMENT_RULES, *parts))


def window_digest(aggregate: UnitWindowAggregate) -> bytes:
    """16 bytes that change with any figure of the window that detection reads (not its
    organisation or unit): what the window adds to its organisation's digest. The sink stores
    it with the window, so a restore need not rebuild every window to compare marks."""
    a = aggregate
    return hashlib.blake2b(
        repr(
            (
                a.window.start.timestamp(),
                a.window.end.timestamp(),
                a.fft_counts,
                a.incidents_by_harm,
                a.incidents_by_category,
                a.targets,
                a.contributions,
                a.themes,
            )
        ).encode(),
        digest_size=16,
    ).digest()


def digest(
    series: Mapping[UnitKey, Sequence[UnitWindowAggregate]],
    responses: Iterable[ResponseRecord],
    config: str,
) -> str:
    """The digest of one organisation's judgement inputs: every unit's closed windows (units
    with none left out), its responses and the configuration fingerprint."""
    window_digests = {
        unit: _WINDOWS.pointwise(unit, (windows,), partial(_window_digest_at, windows))
        for unit, windows in series.items()
        if windows
    }
    return _combined(window_digests, responses, config)


def _combined(
    window_digests: Mapping[UnitKey, Sequence[bytes]],
    responses: Iterable[ResponseRecord],
    config: str,
) -> str:
    h = hashlib.blake2b(config.encode(), digest_size=16)
    for unit in sorted(window_digests):
        digests = window_digests[unit]
        if not digests:
            continue
        h.update(repr(unit).encode())
        h.update(b"".join(digests))
    for r in sorted(responses, key=lambda r: r.event_id):
        h.update(
            repr(
                (
                    r.event_id,
                    r.unit_id,
                    r.alert_id,
                    r.response.value,
                    r.occurred_at.timestamp(),
                    None if r.due_by is None else r.due_by.timestamp(),
                    *((r.owner,) if r.owner else ()),  # as before for a response naming none
                )
            ).encode()
        )
    return h.hexdigest()


_WINDOWS: Suffixes[bytes] = Suffixes("digests")  # each window's `window_digest`


def _window_digest_at(windows: Sequence[UnitWindowAggregate], t: int) -> bytes:
    return window_digest(windows[t])


def is_current(
    stored: JudgedMark | None,
    windows: Mapping[UnitKey, Sequence[tuple[Window, bytes]]],
    responses: Iterable[ResponseRecord],
    config: str,
    watermark: datetime | None,
) -> bool:
    """Whether `stored` covers an organisation restored with `windows` (every window of each
    unit, in time order, with its `window_digest`) and `responses`, under `watermark`:
    nothing closed since the mark, and what was closed by it unchanged."""
    if stored is None:
        return False
    mark = stored.mark
    if watermark is not None and (mark is None or watermark > mark):
        newly = [w for ws in windows.values() for w, _ in ws if _ends_by(w, watermark)]
        if any(not _ends_by(w, mark) for w in newly):
            return False
    closed = {unit: [d for w, d in ws if _ends_by(w, mark)] for unit, ws in windows.items()}
    return _combined(closed, responses, config) == stored.digest


def _ends_by(window: Window, mark: datetime | None) -> bool:
    return mark is not None and window.end <= mark
