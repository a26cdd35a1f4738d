"""Bounds on input: event-time horizon, line size while reading, partition-sized inserts, and
stored forms that always validate again."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from uuid import uuid4

import pyarrow as pa
import pytest

from pipeline.adapters.clickhouse.arrow import arrow_batch, arrow_body
from pipeline.adapters.clickhouse.partitions import (
    MAX_PARTITIONS_PER_INSERT,
    partition_keys,
    split_by_partition,
)
from pipeline.adapters.jsonlines import READ_CHUNK_BYTES, UTF8_BOM, read_lines
from pipeline.core.bounds import STORED, TimeHorizon
from pipeline.core.decode import MAX_MESSAGE_BYTES, RawMessage, Rejection, RejectReason, decode
from pipeline.core.engine import Engine, EngineConfig
from pipeline.core.event_fields import FREE_TEXT_MAX_CHARS
from pipeline.core.stored import FreeTextPolicy
from pipeline.errors import EventRejected
from pipeline.publishing import validate
from tests.support.event_examples import VALID_NHS_NUMBER, as_line, valid_event

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


def at(moment: datetime) -> bytes:
    return as_line(valid_event("patient_feedback", occurred_at=moment.isoformat()))


def test_the_horizon_is_a_day_ahead_of_processing_time_and_after_1990() -> None:
    bounds = TimeHorizon().at(NOW)
    assert not isinstance(decode(at(NOW + timedelta(days=1)), bounds), Rejection)
    assert not isinstance(decode(at(datetime(1990, 1, 1, tzinfo=UTC)), bounds), Rejection)
    for moment in (NOW + timedelta(days=1, seconds=1), datetime(1989, 12, 31, tzinfo=UTC)):
        rejection = decode(at(moment), bounds)
        assert isinstance(rejection, Rejection)
        assert (rejection.reason, rejection.field) == (RejectReason.INVALID_VALUE, "occurred_at")


def test_the_horizon_is_configurable() -> None:
    horizon = TimeHorizon(datetime(1950, 1, 1, tzinfo=UTC), timedelta(hours=1))
    assert not isinstance(decode(at(datetime(1960, 1, 1, tzinfo=UTC)), horizon.at(NOW)), Rejection)
    assert isinstance(decode(at(NOW + timedelta(hours=2)), horizon.at(NOW)), Rejection)


def test_the_publisher_checks_the_same_bounds() -> None:
    with pytest.raises(EventRejected) as caught:
        validate(at(datetime(2100, 1, 1, tzinfo=UTC)))
    assert (caught.value.reason, caught.value.field) == ("invalid_value", "occurred_at")


def test_an_event_from_2100_neither_counts_nor_moves_the_watermark() -> None:
    engine = Engine(EngineConfig(), b"k" * 32)
    far = engine.process([RawMessage(at(datetime(2100, 1, 1, tzinfo=UTC)), "t:1")], NOW)
    assert len(far.rejected) == 1
    assert engine.watermark is None
    on_time = engine.process([RawMessage(at(datetime(2025, 5, 1, tzinfo=UTC)), "t:2")], NOW)
    assert (len(on_time.accepted), on_time.late) == (1, 0)


class _Endless(io.RawIOBase):
    """`size` bytes of "a" with no newline, made as they are read; records the largest read."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.largest_read = 0
        self._block = b"a" * READ_CHUNK_BYTES

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left, len(self._block))
        buffer[:n] = self._block[:n]
        self.left -= n
        self.largest_read = max(self.largest_read, n)
        return n


def test_a_line_of_one_and_a_half_gigabytes_is_never_held_whole() -> None:
    endless = _Endless(1_500_000_000)
    handle = io.BufferedReader(endless, buffer_size=64 * 1024)
    (line,) = read_lines(handle)
    assert line.size == 1_500_000_000
    assert len(line.value) <= MAX_MESSAGE_BYTES
    assert endless.largest_read <= READ_CHUNK_BYTES
    rejection = decode(line.value, STORED, size=line.size)
    assert isinstance(rejection, Rejection) and rejection.reason is RejectReason.TOO_LARGE


def test_lines_at_and_past_the_limit() -> None:
    fits = b"x" * MAX_MESSAGE_BYTES
    text = fits + b"\n\n  \n" + fits + b"y\n{}"
    lines = list(read_lines(io.BytesIO(text)))
    assert [(line.number, line.size) for line in lines] == [
        (1, None),
        (4, MAX_MESSAGE_BYTES + 2),
        (5, None),
    ]
    assert lines[0].value == fits and lines[2].value == b"{}"
    assert sum(line.consumed for line in lines) == len(text)


def test_a_byte_order_mark_starting_the_input_is_not_part_of_the_first_line() -> None:
    event = b'{"schema_version": 1}'
    text = UTF8_BOM + event + b"\r\n" + UTF8_BOM + event + b"\r\n"
    lines = list(read_lines(io.BytesIO(text)))
    assert [line.value for line in lines] == [event, UTF8_BOM + event]  # only the input's start
    assert sum(line.consumed for line in lines) == len(text)
    assert [line.number for line in read_lines(io.BytesIO(UTF8_BOM + b"\n" + event))] == [2]


def _batch(**columns: list[Any]) -> pa.RecordBatch:
    types = {name: "DateTime64(6, 'UTC')" if name == "at" else "UInt32" for name in columns}
    return arrow_batch(columns, types)


def _moments(batch: pa.RecordBatch) -> list[datetime]:
    return [m.astimezone(UTC) for m in batch.column("at").to_pylist()]


def test_an_insert_never_spans_more_partitions_than_allowed() -> None:
    moments = [datetime(1990 + m // 12, m % 12 + 1, 1, tzinfo=UTC) for m in range(432)] * 2
    batch = _batch(at=moments, n=list(range(len(moments))))
    chunks = split_by_partition(batch, "toYYYYMM(at)")
    assert len(chunks) > 1
    for chunk in chunks:
        assert len({(m.year, m.month) for m in _moments(chunk)}) <= MAX_PARTITIONS_PER_INSERT
        assert [moments[n] for n in chunk.column("n").to_pylist()] == _moments(chunk)
    numbers = sorted(n for chunk in chunks for n in chunk.column("n").to_pylist())
    assert numbers == list(range(len(moments)))  # every row once, rows kept whole
    again = split_by_partition(_batch(at=moments, n=list(range(len(moments)))), "toYYYYMM(at)")
    assert [arrow_body(c) for c in again] == [arrow_body(c) for c in chunks]  # same tokens
    few = _batch(at=moments[:90] * 3, n=list(range(270)))  # 90 months: one insert
    assert split_by_partition(few, "toYYYYMM(at)") == [few]


def test_partitions_are_counted_in_utc_and_by_each_known_key() -> None:
    # December 1999 in UTC (January 2000 by its own offset) to March 2008: 100 months, as many
    # as one insert may span; a month more and it is split
    first = datetime(2000, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    last = datetime(2008, 3, 31, 23, 30, tzinfo=UTC)
    middle = [first + timedelta(days=12 * i) for i in range(1, 252)]  # every month in between
    batch = _batch(at=[first, *middle, last])
    assert split_by_partition(batch, "toYYYYMM(at)") == [batch]
    assert split_by_partition(batch, "toStartOfMonth(at)") == [batch]
    assert split_by_partition(batch, "toYear(at)") == [batch]
    assert split_by_partition(batch, "toStartOfQuarter(at)") == [batch]
    quarters = partition_keys(
        _batch(at=[first, first + timedelta(hours=1), last]), "toStartOfQuarter(at)"
    )
    assert quarters is not None and quarters.to_pylist() == [
        1999 * 4 + 4,
        2000 * 4 + 1,
        2008 * 4 + 1,
    ]
    decades = _batch(at=[datetime(1990 + q // 4, q % 4 * 3 + 1, 2, tzinfo=UTC) for q in range(101)])
    assert [c.num_rows for c in split_by_partition(decades, "toStartOfQuarter(at)")] == [100, 1]
    later = _batch(at=[first, *middle, last, last + timedelta(hours=1)])
    chunks = split_by_partition(later, "toYYYYMM(at)")
    assert [c.num_rows for c in chunks] == [253, 1]
    assert _moments(chunks[1]) == [last + timedelta(hours=1)]
    days = split_by_partition(batch, "toDate(at)")
    assert [c.num_rows for c in days] == [100, 100, 53]
    assert _moments(days[0])[0] == first  # the 31st of December in UTC: its day is the first
    weeks = split_by_partition(batch, "toMonday(at)")  # every moment in a week of its own
    assert [c.num_rows for c in weeks] == [100, 100, 53]
    keys = partition_keys(_batch(at=[first, last]), "toMonday(at)")
    assert keys is not None
    mondays = [date(1999, 12, 27), date(2008, 3, 31)]
    assert keys.to_pylist() == [(d - date(1970, 1, 1)).days for d in mondays]


def test_an_unknown_partition_key_sends_few_enough_rows() -> None:
    batch = _batch(x=list(range(250)))
    chunks = split_by_partition(batch, "cityHash64(x) % 1000")
    assert [c.column("x").to_pylist() for c in chunks] == [
        list(range(0, 100)),
        list(range(100, 200)),
        list(range(200, 250)),
    ]
    assert split_by_partition(batch, "") == [batch]
    assert split_by_partition(batch, "tuple()") == [batch]
    assert partition_keys(batch, "cityHash64(x) % 1000") is None
    assert partition_keys(batch, "toYYYYMM(x)") is None  # not a date-time column


def test_a_redacted_comment_longer_than_the_limit_is_stored_once() -> None:
    comment = (VALID_NHS_NUMBER + " ") * (FREE_TEXT_MAX_CHARS // 11)  # grows when redacted
    raw = as_line(valid_event("patient_feedback", comment=comment))
    first = Engine(EngineConfig(), b"k" * 32)
    (stored,) = first.process([RawMessage(raw, "t:1")], NOW).accepted
    assert len(json.loads(stored.payload)["comment"]) == FREE_TEXT_MAX_CHARS
    assert decode(stored.payload.encode(), STORED) == stored.event
    again = Engine(EngineConfig(), b"k" * 32)
    assert again.restore([stored.payload.encode()], [], NOW).read == 1
    assert again.process([RawMessage(raw, "t:1")], NOW).duplicates == 1


def test_one_event_far_ahead_does_not_make_the_rest_late() -> None:
    engine = Engine(EngineConfig(), b"k" * 32)
    weekly = [datetime(2023, 1, 2, tzinfo=UTC) + timedelta(days=7 * w) for w in range(60)]
    stray = as_line(
        valid_event("patient_feedback", event_id=str(uuid4()), occurred_at=NOW.isoformat())
    )
    messages = [RawMessage(at(moment).replace(b"0b6f5a1e", f"{w:08x}".encode()), f"t:{w}")
                for w, moment in enumerate(weekly)]  # fmt: skip
    result = engine.process([*messages[:5], RawMessage(stray, "t:stray"), *messages[5:]], NOW)
    # the stray moved the mark by 28 days at most: the next three weeks' events came late,
    # none after them (without the cap, all 55 would have)
    assert (len(result.accepted), result.late) == (61, 2)
    mark = engine.watermark
    assert mark is not None and mark <= weekly[-1] + timedelta(days=28)
    engine.finish(NOW)
    assert engine.watermark == NOW  # the end of input judges by the latest event of all


@pytest.mark.parametrize(
    ("label", "refused"),
    [
        ("9434765919", True),
        ("NHS9434765919", True),
        ("MRN-943-476-5919", True),
        ("tar-0123456789abcdef0123", False),  # a hex digest holding a valid number: a code
        ("ward-7", False),
    ],
)
def test_an_alert_id_refuses_an_nhs_number_but_not_a_hex_code(label: str, refused: bool) -> None:
    outcome = decode(as_line(valid_event("alert_response", alert_id=label)))
    assert isinstance(outcome, Rejection) is refused


def test_a_rejected_line_is_redacted_whatever_the_free_text_policy() -> None:
    bad = valid_event(
        "incident_report",
        harm="catastrophic",
        patient_ref="MRN-0042",
        description="jo@example.org, 07700 900123, SW1A 1AA, 01/02/1980, 943 476 5919",
    )
    for policy in FreeTextPolicy:
        engine = Engine(EngineConfig(free_text=policy), b"k" * 32)
        (rejected,) = engine.process([RawMessage(as_line(bad), "t:1")], NOW).rejected
        kept = json.loads(rejected.rejection.raw)
        assert kept["patient_ref"] == "[PATIENT-REF]"
        assert kept["description"] == "[EMAIL], [PHONE], [POSTCODE], [DATE], [NHS-NUMBER]"
