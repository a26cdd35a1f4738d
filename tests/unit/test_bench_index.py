"""`python -m bench` lists the runnable benchmarks (modules with a `__main__` block) and no
helper module, so `make bench` names what it can run."""

from __future__ import annotations

from bench.__main__ import benchmarks, main


def test_the_index_lists_runnable_benchmarks_and_leaves_out_helpers() -> None:
    listed = benchmarks()
    assert {"worker_throughput", "replay_throughput", "worker_years"} <= listed.keys()
    assert "svg_lines" not in listed and "worker_events" not in listed
    assert all(summary for summary in listed.values())


def test_an_unknown_name_is_refused_before_anything_runs() -> None:
    assert main(["no_such_benchmark"]) == 2
