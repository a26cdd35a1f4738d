"""The replay's printed summary says what its counts are: `late` is a part of `accepted`."""

from __future__ import annotations

from pipeline.cli.replay import format_summary
from pipeline.endpoints import ClickHouseDsn
from pipeline.runtime.embedded import ReplaySummary


def test_late_events_are_told_as_part_of_the_accepted_ones() -> None:
    # An import of monthly returns, newest month first: nearly every event lands late, none
    # is a duplicate.
    summary = ReplaySummary(read=5, accepted=5, rejected=0, duplicates=0, late=4)
    first = format_summary(summary, ClickHouseDsn.parse("chdb:///tmp/replay")).splitlines()[0]
    accepted, rest = first.split(" accepted ", 1)
    assert accepted.endswith(": 5")
    assert rest.startswith("(4 of them late")
    assert rest.index(")") < rest.index("0 rejected") < rest.index("0 duplicates")
    # a replay judges once, at its input's end: nothing it reads is judged twice
    assert "judged again" not in first
