"""The engine's short path for common shapes gives exactly what the general path gives: the
quick duplicate-key test against a strict parse, the batch decode against `decode` one message
at a time, and a whole batch admitted through the short path against the same events sent
down the general path."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core import admission, batch_decode
from pipeline.core.bounds import TimeHorizon
from pipeline.core.decode import RawMessage, Rejection, decode
from pipeline.core.engine import Engine, EngineConfig
from pipeline.core.engine_state import SeenIds
from pipeline.core.events import AnyEvent
from pipeline.core.placement import placement
from pipeline.core.stored import StoredEvent
from pipeline.core.strict_json import DuplicateKey, keys_once_quickly, strict_json
from pipeline.core.windows import Window, WindowKind
from tests.support.event_examples import VALID_NHS_NUMBER, valid_event

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
KEY = b"test-key-0123456789abcdef"
_SPACE = st.sampled_from(["", " ", "  ", "\t", "\n", "\r", " \t"])
_TEXT = st.text(alphabet=st.sampled_from(list('ab :"\\,{}0123456789é\t')), max_size=12)


def _written(pairs: list[tuple[str, Any]], space: list[str]) -> bytes:
    """An object of `pairs` (keys may repeat), with the given whitespace around each colon
    and comma (cycled)."""
    parts = []
    for i, (key, value) in enumerate(pairs):
        before, after = space[i % len(space)], space[(i + 1) % len(space)]
        parts.append(f"{json.dumps(key)}{before}:{after}{json.dumps(value, ensure_ascii=False)}")
    return ("{" + ",".join(parts) + "}").encode()


@settings(max_examples=500, deadline=None)
@given(
    keys=st.lists(st.sampled_from(["a", "b", "rating", "c:", ":", "d e"]), min_size=1, max_size=6),
    values=st.lists(st.one_of(_TEXT, st.integers(), st.none()), min_size=6, max_size=6),
    space=st.lists(_SPACE, min_size=1, max_size=4),
)
def test_the_quick_key_test_never_clears_a_key_written_twice(
    keys: list[str], values: list[Any], space: list[str]
) -> None:
    raw = _written(list(zip(keys, values, strict=False)), space)
    distinct = len(set(keys))
    try:
        strict_json(raw.decode())
        twice = False
    except DuplicateKey:
        twice = True
    if keys_once_quickly(raw, distinct):
        assert not twice


@settings(max_examples=200, deadline=None)
@given(
    keys=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True),
    values=st.lists(st.sampled_from(["x", "y z", 1, None]), min_size=3, max_size=3),
    style=st.sampled_from([(", ", ": "), (",", ":"), (",", ": "), (" , ", ": ")]),
)
def test_the_quick_key_test_clears_the_usual_writings(
    keys: list[str], values: list[Any], style: tuple[str, str]
) -> None:
    """Without an escape or whitespace before a colon, once-written keys are cleared quickly
    (so the short path is the one taken)."""
    raw = json.dumps(dict(zip(keys, values, strict=False)), separators=style).encode()
    assert keys_once_quickly(raw, len(keys))


_OFFSETS = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
_EDGES = (
    datetime(1990, 1, 1, tzinfo=UTC),
    NOW + timedelta(days=1),
    datetime(2024, 3, 4, tzinfo=UTC),
)


@st.composite
def _moments(draw: st.DrawFn) -> str:
    edge = draw(st.sampled_from(_EDGES))
    shift = draw(st.integers(min_value=-4 * 86_400, max_value=4 * 86_400))
    return (edge + timedelta(seconds=shift)).astimezone(draw(_OFFSETS)).isoformat()


_LABELS = st.sampled_from(
    ["ward-7", "a-long-unit-name", VALID_NHS_NUMBER, f"x{VALID_NHS_NUMBER}", "1234567890"]
)

_THEMES = st.sampled_from(["waiting", "staff_attitude", VALID_NHS_NUMBER, f"x{VALID_NHS_NUMBER}"])


@st.composite
def _common_events(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["patient_feedback", "incident_report"]))
    changes: dict[str, Any] = {
        "event_id": str(uuid.UUID(int=draw(st.integers(min_value=1, max_value=40)))),
        "occurred_at": draw(_moments()),
        "unit_id": draw(_LABELS),
        "source": draw(_LABELS),
    }
    if kind == "patient_feedback":
        changes["themes"] = draw(st.one_of(st.just(...), st.lists(_THEMES, max_size=3)))
        changes["comment"] = draw(st.sampled_from([..., "kind staff", f"NHS {VALID_NHS_NUMBER}"]))
    else:
        changes["reporter_role"] = draw(st.sampled_from([..., "nurse", "senior staff nurse"]))
        changes["report_ref"] = draw(st.sampled_from([..., ..., "R-1"]))  # a revision: general
        changes["revision"] = draw(st.integers(min_value=1, max_value=3))
    return valid_event(kind, **changes)


def _line(event: dict[str, Any], style: tuple[str, str]) -> bytes:
    return json.dumps(event, separators=style, ensure_ascii=False).encode()


@settings(max_examples=150, deadline=None)
@given(
    events=st.lists(_common_events(), min_size=1, max_size=12),
    style=st.sampled_from([(", ", ": "), (",", ":"), (", ", " : ")]),
    kind=st.sampled_from(list(WindowKind)),
)
def test_the_batch_decode_gives_what_decode_gives_one_message_at_a_time(
    events: list[dict[str, Any]], style: tuple[str, str], kind: WindowKind
) -> None:
    bounds = TimeHorizon().at(NOW)
    messages = [RawMessage(_line(e, style), f"t:{i}") for i, e in enumerate(events)]
    seen = SeenIds()
    seen.add(uuid.UUID(int=1).int, NOW)
    decoded = batch_decode.decode_batch(messages, bounds, kind, seen, every=False)
    for (message, outcome, placed, window), expected in zip(
        decoded.entries, (decode(m.value, bounds) for m in messages), strict=True
    ):
        assert message.value and repr(outcome) == repr(expected)
        if isinstance(expected, Rejection) or expected.event_id.int in seen:
            assert placed is None and window is None
            continue
        where = placement(expected, kind)
        if window is not None:
            assert placed is None and (window,) == tuple(where.windows)
        else:
            assert placed == where


def _general(line: bytes) -> bytes:
    """The same event written with an escape, so it takes the general path."""
    return line.replace(b'"source"', b'"sourc\\u0065"', 1)


def _stored(s: StoredEvent) -> tuple[Any, ...]:
    return (
        s.event,
        json.loads(s.payload),  # the general path's line was written another way
        s.origin,
        s.late,
        s.free_text_chars,
        s.nhs_numbers_redacted,
        s.other_identifiers_redacted,
    )


def _outcome(engine: Engine, lines: list[bytes], batch: int) -> list[Any]:
    got: list[Any] = []
    for start in range(0, len(lines), batch):
        messages = [
            RawMessage(line, f"t:{i}") for i, line in enumerate(lines[start : start + batch], start)
        ]
        result = engine.process(messages, NOW)
        got.append(
            (
                [_stored(s) for s in result.accepted],
                [(r.origin, r.rejection.reason, r.rejection.field) for r in result.rejected],
                (result.read, result.duplicates, result.late),
                result.windows,
                result.window_state,
                result.alerts,
                result.revisions,
            )
        )
    return got


@settings(max_examples=60, deadline=None)
@given(
    events=st.lists(_common_events(), min_size=1, max_size=30),
    batch=st.integers(min_value=1, max_value=30),
)
def test_the_short_path_admits_exactly_as_the_general_path(
    events: list[dict[str, Any]], batch: int
) -> None:
    lines = [_line(e, (", ", ": ")) for e in events]
    config = EngineConfig(allowed_lateness=timedelta(days=2))
    short = _outcome(Engine(config, KEY), lines, batch)
    general = _outcome(Engine(config, KEY), [_general(line) for line in lines], batch)
    assert short == general


def test_the_general_writing_takes_the_general_path() -> None:
    line = _line(valid_event("patient_feedback", comment=..., themes=...), (", ", ": "))
    entries = batch_decode.decode_batch(
        [RawMessage(line, "a"), RawMessage(_general(line), "b")],
        TimeHorizon().at(NOW),
        WindowKind.WEEK,
        SeenIds(),
        every=False,
    ).entries
    short: AnyEvent | Rejection = entries[0][1]
    assert entries[0][3] is not None and entries[1][3] is None and entries[1][2] is not None
    assert repr(short) == repr(entries[1][1])


@settings(max_examples=1000, deadline=None)
@given(
    end=st.integers(min_value=0, max_value=20).map(
        lambda weeks: datetime(2024, 1, 1, tzinfo=UTC) + timedelta(weeks=weeks)
    ),
    shift=st.integers(min_value=-4 * 86_400, max_value=4 * 86_400),
    offset=_OFFSETS,
)
def test_a_window_ends_by_the_mark_exactly_when_the_comparison_says_so(
    end: datetime, shift: int, offset: timezone
) -> None:
    window = Window(end - timedelta(days=7), end)
    mark = (end + timedelta(seconds=shift)).astimezone(offset)
    assert admission._ends_by(window, end.toordinal(), mark, mark.toordinal()) is (
        window.end <= mark
    )
    assert admission._ends_by(window, end.toordinal(), None, -1) is False


@settings(max_examples=1500, deadline=None)
@given(occurred=_moments(), kind=st.sampled_from(["patient_feedback", "incident_report"]))
def test_one_event_near_a_bound_is_decoded_by_the_batch_as_by_decode(
    occurred: str, kind: str
) -> None:
    bounds = TimeHorizon().at(NOW)
    line = _line(valid_event(kind, occurred_at=occurred, themes=...), (", ", ": "))
    (entry,) = batch_decode.decode_batch(
        [RawMessage(line, "t")], bounds, WindowKind.WEEK, SeenIds(), every=False
    ).entries
    assert repr(entry[1]) == repr(decode(line, bounds))
