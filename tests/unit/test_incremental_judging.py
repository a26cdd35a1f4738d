"""Judging resumes each unit's folds from what it judged before (`detection.resume`), and says
exactly what judging from the first window says: the same verdicts, alerts with the same
evidence, board rows, bright spots, marks and withdrawals, whatever the batches, the order,
the late events amending old closed windows, the revised incidents and the answered alerts."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache, partial
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.core.batch import BatchResult
from pipeline.core.board import board_rows
from pipeline.core.decode import RawMessage
from pipeline.core.detection import DetectionConfig
from pipeline.core.detection.bright import bright_spots
from pipeline.core.detection.common import common_offsets
from pipeline.core.detection.measures import unit_figures
from pipeline.core.detection.mirrored import mirrored_rules
from pipeline.core.detection.resume import Checkpoints, Suffixes, common_length, from_scratch
from pipeline.core.detection.silence import silence_trace
from pipeline.core.detection.stats import monitor
from pipeline.core.engine import Engine, EngineConfig
from pipeline.simulation import SimulationConfig, simulate_trust
from tests.support.series import aggregate, organisation

NOW = datetime(2025, 1, 1, tzinfo=UTC)
KEY = b"incremental-judging-key-0123"
FIELDS = (
    "alerts",
    "verdicts",
    "board",
    "targets",
    "bright_spots",
    "judged",
    "windows",
    "revisions",
)


Check = tuple[Callable[[], object], str]


def equal_from_scratch(checks: list[Check]) -> None:
    """Each call made again from scratch gives the result kept (its repr) when it resumed.
    After all of them: `from_scratch()` empties the stores, so a comparison after each call
    would leave the next one nothing to resume from."""
    with from_scratch():
        for call, kept in checks:
            assert repr(call()) == kept


@cache
def trust_events() -> tuple[dict[str, Any], ...]:
    """A small simulated trust (episodes, answered alerts, duplicates) plus revised incidents:
    a revision re-grades a report and moves it to a window weeks later."""
    trust = simulate_trust(
        SimulationConfig(orgs=2, units_per_org=4, weeks=30, seed=11, duplicates=0.01)
    )
    events = [dict(e) for e in trust.events]
    incidents = [e for e in events if e["event_type"] == "incident_report"]
    revisions = []
    for number, event in enumerate(random.Random(5).sample(incidents, 12)):
        event["report_ref"] = f"REF-{number}"
        moved = datetime.fromisoformat(event["occurred_at"]) + timedelta(weeks=number % 4)
        revisions.append(
            {**event, "event_id": f"revision-{number}", "revision": 2, "harm": "severe",
             "occurred_at": moved.isoformat()}
        )  # fmt: skip
    return (*events, *revisions)


def messages(events: Sequence[dict[str, Any]]) -> list[RawMessage]:
    return [RawMessage(json.dumps(e).encode(), f"test:{i}") for i, e in enumerate(events)]


def outputs(result: BatchResult) -> dict[str, str]:
    """Everything a judgement hands on, exactly (repr: NaN figures compare too)."""
    return {name: repr(getattr(result, name)) for name in FIELDS}


def run(batches: list[list[RawMessage]]) -> list[dict[str, str]]:
    engine = Engine(EngineConfig(), KEY)
    steps = [outputs(engine.process(batch, NOW)) for batch in batches]
    return [*steps, outputs(engine.finish(NOW))]


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    cuts=st.integers(3, 14),
    late_share=st.sampled_from([0.0, 0.01, 0.05]),
)
def test_resumed_judging_equals_judging_from_the_first_window(
    seed: int, cuts: int, late_share: float
) -> None:
    rng = random.Random(seed)
    lines = messages(trust_events())
    # Mostly in time order, as a live feed: a share held back to the very end (a late event
    # amends a window closed long ago) and the rest shuffled a little within short spans.
    late = [m for m in lines if rng.random() < late_share]
    held = {id(m) for m in late}
    ordered = [m for m in lines if id(m) not in held]
    for start in range(0, len(ordered), 200):
        span = ordered[start : start + 200]
        rng.shuffle(span)
        ordered[start : start + 200] = span
    ordered += late
    points = sorted(rng.sample(range(1, len(ordered)), cuts - 1))
    batches = [ordered[a:b] for a, b in zip([0, *points], [*points, len(ordered)], strict=True)]

    resumed = run(batches)
    with from_scratch():
        scratch = run(batches)

    assert resumed == scratch
    assert any(step["alerts"] != "[]" for step in resumed)  # the comparison covers alerts
    assert any(step["verdicts"] != "[]" for step in resumed)


@settings(max_examples=30, deadline=None)
@given(
    counts=st.lists(st.integers(0, 40), min_size=1, max_size=70),
    edits=st.lists(st.tuples(st.integers(0, 69), st.integers(0, 40)), max_size=4),
)
def test_a_monitor_resumed_on_a_growing_and_amended_series_equals_one_from_scratch(
    counts: list[int], edits: list[tuple[int, int]]
) -> None:
    """Every prefix in turn (each a window closing), with old windows amended on the way."""
    config = DetectionConfig()
    series = list(counts)
    checks: list[Check] = []
    for length in range(1, len(series) + 1):
        for at, value in edits:
            if at < length - 1 and length % 9 == 0:
                series[at] = value
        window = series[:length]
        trials = [max(c, 1) * 3 for c in window]
        scales = [float(n) if t % 11 else 0.0 for t, n in enumerate(trials)]
        offsets = [((c * 7) % 5 - 2) / 3 for c in window]
        resets = [c % 13 == 0 for c in window]
        args = (window, scales, trials, None, config.rules, offsets, resets)
        checks.append((partial(monitor, *args), repr(monitor(*args))))
    equal_from_scratch(checks)


def test_a_silence_trace_resumed_window_by_window_equals_one_from_scratch() -> None:
    rng = random.Random(3)
    config = DetectionConfig()
    weeks = []
    for week in range(60):
        reports = 0 if 30 <= week < 36 else rng.randint(3, 12)
        base = aggregate(week, responses=rng.randint(20, 40), activity=1500.0)
        weeks.append(replace(base, incidents_by_harm=(reports, 0, 0, 0, 0)))
    checks: list[Check] = []
    for length in range(1, len(weeks) + 1):
        series = weeks[:length]
        figures = unit_figures(series)
        flagged = [t % 17 == 5 for t in range(length)]
        resumed = silence_trace(series, figures, config, flagged)
        checks.append((partial(silence_trace, series, figures, config, flagged), repr(resumed)))
        if length == len(weeks):
            assert any(at >= 0 for at in resumed.signalled_at)  # the silence was judged
    equal_from_scratch(checks)


def test_mirrored_rules_resumed_window_by_window_equal_them_from_scratch() -> None:
    """The bright spots' rules fold improvement z in time order: grown one window at a time,
    and with an old window amended on the way, they say what folding from the first says."""
    rng = random.Random(7)
    config = DetectionConfig()
    z = [
        math.nan if t % 9 == 4 else rng.gauss(2.8 if 20 <= t < 40 else 0.0, 1.0) for t in range(70)
    ]
    offsets = [max(0.0, rng.gauss(0.0, 0.4)) for _ in z]
    checks: list[Check] = []
    for length in range(1, len(z) + 1):
        if length == 50:
            z[length - 10] += 2.5  # an old window amended (a late event)
        args = (z[:length], offsets[:length], config)
        resumed = mirrored_rules(*args)
        checks.append((partial(mirrored_rules, *args), repr(resumed)))
    equal_from_scratch(checks)
    assert any(at >= 0 for at in resumed[0])  # runs or the CUSUM signalled


def test_board_rows_grown_window_by_window_equal_them_from_scratch() -> None:
    """The board keeps what it reads of each window: a unit grown one window at a time (past
    `MAX_POINTS`), an old window amended and trailing unreported windows on the way."""
    rng = random.Random(9)
    weeks = [
        aggregate(w, responses=rng.randint(0, 40), negative=rng.randint(0, 3),
                  harmful=rng.randint(0, 3), met=rng.random() < 0.8, activity=rng.uniform(300, 500))
        for w in range(120)
    ]  # fmt: skip
    checks: list[Check] = []
    for length in range(1, len(weeks) + 1):
        if length == 70:
            weeks[50] = replace(weeks[50], fft_counts=(0, 0, 0, 20, 20, 0))  # a late burst
        series = weeks[:length]
        if length % 10 == 0:  # the latest window holds only a target return
            series = [*series, replace(weeks[length - 1], fft_counts=(0,) * 6,
                                       incidents_by_harm=(0,) * 5)]  # fmt: skip
        resumed = board_rows(series)
        checks.append((partial(board_rows, series), repr(resumed)))
    equal_from_scratch(checks)
    assert {row.measure for row in resumed} == {"experience", "safety", "target"}


@settings(max_examples=40, deadline=None)
@given(
    activity=st.lists(st.sampled_from([None, 1.0, 300.0, 450.0, 900.0]), min_size=1, max_size=40),
    edits=st.lists(
        st.tuples(st.integers(0, 39), st.sampled_from([None, 200.0, 1200.0])), max_size=4
    ),
)
def test_unit_figures_grown_and_amended_equal_them_from_scratch(
    activity: list[float | None], edits: list[tuple[int, float | None]]
) -> None:
    """A unit's figures read again only from its first changed window (the exposure resumed
    from the activity known before it): grown one window at a time, with old windows' activity
    amended on the way (before and after four values are known), against reading them all."""

    def week_of(t: int, value: float | None) -> Any:
        met = None if value is None else t % 5 != 0
        return aggregate(t, responses=20 + t % 7, negative=t % 3, harmful=t % 4, met=met,
                         activity=value or 1.0)  # fmt: skip

    weeks = [week_of(t, value) for t, value in enumerate(activity)]
    checks: list[Check] = []
    for length in range(1, len(weeks) + 1):
        for at, value in edits:
            if at < length - 1 and length % 7 == 0:
                weeks[at] = week_of(at, value)
        series = weeks[:length]
        checks.append((partial(unit_figures, series), repr(unit_figures(series))))
    equal_from_scratch(checks)


@pytest.mark.parametrize("pool", [1, DetectionConfig().common_windows])
def test_common_offsets_grouped_again_where_changed_equal_them_from_scratch(pool: int) -> None:
    """The common movement is regrouped only where a unit's windows or scores changed (one
    window's estimate), or kept for the very same inputs (pooled over `common_windows`): units
    grown window by window (one starting later, one ending earlier), a winter dip that moves
    them all, and an old window of one unit amended, against grouping every window again."""
    config = replace(DetectionConfig(), common_windows=pool)
    units = {
        unit: [replace(a, fft_counts=(a.fft_counts[0] // 3, 0, 0, *a.fft_counts[1:4], 0))
               if 30 <= t < 34 else a for t, a in enumerate(series)]
        for unit, series in organisation(60, seed=3).items()
    }  # fmt: skip
    names = sorted(units)
    changed_at = names[1]
    checks: list[Check] = []
    for length in range(1, 61):
        if length == 45:
            amended = units[changed_at][31]
            units[changed_at][31] = replace(amended, fft_counts=(40, 0, 0, 0, 0, 0))
        series = {
            unit: units[unit][(8 if unit == names[2] else 0) : (40 if unit == names[3] else length)]
            for unit in names
        }
        figures = {unit: unit_figures(s) for unit, s in series.items() if s}
        resumed = common_offsets(figures, config, "RXA")
        checks.append((partial(common_offsets, figures, config, "RXA"), repr(resumed)))
    equal_from_scratch(checks)
    assert any(v != 0.0 for offsets in resumed.values() for c in offsets.values() for v in c)


def test_bright_spots_grown_window_by_window_equal_them_from_scratch() -> None:
    """Bright spots (their scores, the others' common level, the mirrored rules) of units
    grown one window at a time, one improving from week 40, another's old window amended."""
    config = DetectionConfig()
    units = organisation(70, seed=3)
    names = sorted(units)
    units[names[0]] = [
        replace(a, fft_counts=(sum(a.fft_counts[0:5:3]) + a.fft_counts[4], *a.fft_counts[1:3],
                               0, 0, *a.fft_counts[5:])) if t >= 40 else a
        for t, a in enumerate(units[names[0]])
    ]  # fmt: skip
    checks: list[Check] = []
    for length in range(1, 71):
        if length == 55:
            old = units[names[2]][45]
            units[names[2]][45] = replace(
                old, fft_counts=(old.fft_counts[0] + 30, *old.fft_counts[1:])
            )
        series = {unit: units[unit][:length] for unit in names}
        resumed = bright_spots(series, config)
        checks.append((partial(bright_spots, series, config), repr(resumed)))
    equal_from_scratch(checks)
    assert any(spot.status != "none" for spot in resumed)


def test_one_unit_changed_alone_and_alerts_answered_alone_equal_judging_from_scratch() -> None:
    """Batches that change one unit while its peers keep their windows (late events for an
    old window, one per batch) and batches holding only alert responses (windows unchanged):
    what is kept per unit and organisation must not outlive what it was judged on."""
    events = trust_events()
    unit = next((e["org_id"], e["unit_id"]) for e in events if e["event_type"] == "incident_report")
    own = [
        i for i, e in enumerate(events)
        if (e["org_id"], e["unit_id"]) == unit and e["event_type"] != "alert_response"
    ]  # fmt: skip
    late = {own[len(own) // 4], own[len(own) // 2], own[len(own) // 2 + 1]}
    answers = {i for i, e in enumerate(events) if e["event_type"] == "alert_response"}
    lines = messages(events)
    rest = [m for i, m in enumerate(lines) if i not in late and i not in answers]
    cut = len(rest) * 3 // 4
    batches = [rest[: cut // 2], rest[cut // 2 : cut]]
    batches += [[lines[i]] for i in sorted(late)]  # one late event of one unit per batch
    batches += [[lines[i]] for i in sorted(answers)]  # responses alone
    batches += [rest[cut:], *([lines[i]] for i in sorted(late))]  # duplicates: no change

    resumed = run(batches)
    with from_scratch():
        scratch = run(batches)

    assert resumed == scratch
    assert any(step["verdicts"] != "[]" for step in resumed[2:5])  # the late events re-judged


@settings(max_examples=60, deadline=None)
@given(
    first=st.lists(st.sampled_from([0.0, 1.0, 2.0, math.nan]), max_size=12),
    # floats only: equal inputs of different types (0 and 0.0) count as the same, as documented
    edits=st.lists(
        st.tuples(st.integers(0, 15), st.sampled_from([0.0, 3.0, math.nan])), max_size=3
    ),
    grow=st.integers(-3, 4),
)
def test_suffixes_recompute_from_the_first_changed_window_only(
    first: list[float], edits: list[tuple[int, float]], grow: int
) -> None:
    """`Suffixes.pointwise` gives what computing every window gives, and computes again only
    from the first window whose inputs differ (a NaN equals only itself, as in a tuple)."""
    store: Suffixes[str] = Suffixes("verdicts")
    labels = [f"w{t}" for t in range(20)]

    def judged(values: list[float]) -> tuple[list[str], list[int]]:
        asked: list[int] = []

        def compute(t: int) -> str:
            asked.append(t)
            return repr((labels[t], values[t]))

        return store.pointwise("slot", [labels[: len(values)], values], compute), asked

    assert judged(first)[0] == [repr(p) for p in zip(labels, first, strict=False)]
    second = first[: max(0, len(first) + grow)] + [1.0] * max(0, grow)
    for at, value in edits:
        if at < len(second):
            second[at] = value
    out, asked = judged(second)
    assert out == [repr(p) for p in zip(labels, second, strict=False)]
    same = 0
    while same < min(len(first), len(second)) and (
        first[same] is second[same] or first[same] == second[same]
    ):
        same += 1
    assert asked == list(range(same, len(second)))


@settings(max_examples=200, deadline=None)
@given(
    before=st.lists(st.sampled_from([0, 1, 2, None]), max_size=40),
    after=st.lists(st.sampled_from([0, 1, 2, None]), max_size=40),
    shared=st.integers(0, 40),
)
def test_common_length_is_the_first_index_where_entries_differ(
    before: list[int | None], after: list[int | None], shared: int
) -> None:
    after = before[:shared] + after
    naive = 0
    while naive < min(len(before), len(after)) and before[naive] == after[naive]:
        naive += 1
    assert common_length(before, after) == naive


def test_saved_fold_states_are_told_apart_when_their_keys_hashes_collide() -> None:
    """Keys are compared, not only hashed: (-1,) and (-2,) hash alike in CPython."""
    checkpoints = Checkpoints("monitor")
    assert hash((-1,)) == hash((-2,))
    checkpoints.save("head", ([-1],), 1, "folded -1")
    assert checkpoints.resume("head", ([-2],), 1) == (0, None)
    checkpoints.save("head", ([-2],), 1, "folded -2")
    checkpoints.save("head", ([-1],), 1, "folded again")  # a state saved before is kept
    assert checkpoints.resume("head", ([-1],), 1) == (1, "folded -1")
    assert checkpoints.resume("head", ([-2],), 1) == (1, "folded -2")
