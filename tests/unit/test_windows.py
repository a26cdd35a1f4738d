import itertools
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from pipeline.core.windows import Watermark, Window, WindowKind, window_of, windows_between


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_iso_week_starts_monday_utc() -> None:
    window = window_of(at("2024-03-07T15:00:00+00:00"), WindowKind.WEEK)  # a Thursday
    assert window == Window(at("2024-03-04T00:00:00+00:00"), at("2024-03-11T00:00:00+00:00"))


def test_offset_is_converted_before_windowing() -> None:
    # Monday 00:30 in UTC+01:00 is Sunday 23:30 UTC: the previous week.
    window = window_of(at("2024-03-11T00:30:00+01:00"), WindowKind.WEEK)
    assert window.start == at("2024-03-04T00:00:00+00:00")


def test_calendar_month_including_december_rollover() -> None:
    window = window_of(at("2024-12-31T23:59:59+00:00"), WindowKind.MONTH)
    assert window == Window(at("2024-12-01T00:00:00+00:00"), at("2025-01-01T00:00:00+00:00"))


def test_windows_between_covers_a_month_with_its_weeks() -> None:
    weeks = windows_between(
        at("2024-02-01T00:00:00+00:00"), at("2024-03-01T00:00:00+00:00"), WindowKind.WEEK
    )
    assert weeks[0].start == at("2024-01-29T00:00:00+00:00")
    assert weeks[-1].start == at("2024-02-26T00:00:00+00:00")
    assert len(weeks) == 5
    assert all(a.end == b.start for a, b in itertools.pairwise(weeks))


def test_overlap_seconds() -> None:
    week = window_of(at("2024-02-28T00:00:00+00:00"), WindowKind.WEEK)  # 26 Feb - 4 Mar
    february = (at("2024-02-01T00:00:00+00:00"), at("2024-03-01T00:00:00+00:00"))
    assert week.overlap_seconds(*february) == timedelta(days=4).total_seconds()
    assert (
        week.overlap_seconds(at("2025-01-01T00:00:00+00:00"), at("2025-02-01T00:00:00+00:00")) == 0
    )


def test_watermark_closes_a_window_after_the_allowed_lateness() -> None:
    mark = Watermark(timedelta(days=2))
    week = window_of(at("2024-03-05T00:00:00+00:00"), WindowKind.WEEK)  # ends 11 March
    mark.observe(at("2024-03-12T12:00:00+00:00"))
    assert not mark.is_closed(week)
    mark.observe(at("2024-03-13T00:00:00+00:00"))
    assert mark.is_closed(week)
    mark.observe(at("2024-03-01T00:00:00+00:00"))  # an old event never moves it back
    assert mark.is_closed(week)


moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@given(moments, st.sampled_from(list(WindowKind)), st.integers(-12, 14))
def test_every_moment_lies_in_its_window(moment: datetime, kind: WindowKind, hours: int) -> None:
    local = moment.astimezone(timezone(timedelta(hours=hours)))
    window = window_of(local, kind)
    assert window.start <= moment < window.end
    assert window_of(window.start, kind) == window


@given(
    st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2299, 12, 30)),
    st.integers(-(24 * 60 - 1), 24 * 60 - 1),
)
def test_a_week_placed_by_its_local_day_is_the_week_of_its_instant(
    local: datetime, minutes: int
) -> None:
    moment = local.replace(tzinfo=timezone(timedelta(minutes=minutes)))
    window = window_of(moment, WindowKind.WEEK)  # by the local day when it decides alone
    assert window.start <= moment < window.end
    assert window.end - window.start == timedelta(days=7)
    assert window.start.weekday() == 0 and window.start.time() == datetime.min.time()


@given(st.lists(moments, min_size=1, max_size=30), st.randoms())
def test_watermark_does_not_depend_on_order(events: list[datetime], rng: object) -> None:
    forward, shuffled = Watermark(timedelta(days=7)), Watermark(timedelta(days=7))
    for moment in events:
        forward.observe(moment)
    reordered = list(events)
    rng.shuffle(reordered)  # type: ignore[attr-defined]
    for moment in reordered:
        shuffled.observe(moment)
    assert forward.value == shuffled.value


def _expected_mark(
    seen: list[datetime], lateness: timedelta, step: timedelta | None, finished: bool
) -> datetime | None:
    """The watermark's rule written out: the latest event when finished, else each event
    moving the followed time forward by at most `step`; less the lateness."""
    if not seen:
        return None
    if finished:
        return max(seen)
    followed = seen[0]
    for moment in seen[1:]:
        if moment > followed:
            followed = moment if step is None else min(moment, followed + step)
    return followed - lateness


@given(
    st.lists(moments, max_size=30),
    st.one_of(st.none(), st.integers(1, 60).map(lambda days: timedelta(days=days))),
    st.integers(0, 30),
    st.integers(-12, 14),
)
def test_the_watermark_keeps_its_mark_as_its_rule_defines_it(
    events: list[datetime], step: timedelta | None, finish_at: int, hours: int
) -> None:
    # the mark is kept up to date as events arrive (not computed when read): check each step
    lateness = timedelta(days=7)
    mark = Watermark(lateness, max_step=step)
    offset = timezone(timedelta(hours=hours))
    seen: list[datetime] = []
    for i, moment in enumerate(events):
        if i == finish_at:
            mark.finish()
        local = moment.astimezone(offset) if i % 2 else moment
        mark.observe(local)
        seen.append(local)
        assert mark.value == _expected_mark(seen, lateness, step, mark.finished)
    mark.finish()
    assert mark.value == _expected_mark(seen, lateness, step, True)


@given(
    st.integers(1, 60).map(lambda days: timedelta(days=days)),
    st.integers(-3 * 86_400, 3 * 86_400),
    st.integers(-23 * 60 - 59, 23 * 60 + 59),
    st.integers(-23 * 60 - 59, 23 * 60 + 59),
)
def test_a_move_near_the_step_is_kept_as_the_rule_defines_it(
    step: timedelta, around: int, first_offset: int, second_offset: int
) -> None:
    """The step is checked by local days unless they are within three days of it."""
    first = datetime(2024, 3, 4, 12, tzinfo=UTC)
    second = first + step + timedelta(seconds=around)
    seen = [
        first.astimezone(timezone(timedelta(minutes=first_offset))),
        second.astimezone(timezone(timedelta(minutes=second_offset))),
    ]
    mark = Watermark(timedelta(days=7), max_step=step)
    for moment in seen:
        mark.observe(moment)
    assert mark.value == _expected_mark(seen, timedelta(days=7), step, False)
