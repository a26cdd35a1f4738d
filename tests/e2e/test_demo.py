"""`pipeline demo` end to end: a simulated trust through the embedded pipeline into a report,
and `pipeline report` rebuilding it from the database the demo left behind."""

from __future__ import annotations

import argparse
import io
import json
import re
from pathlib import Path

import pytest

from pipeline.cli.demo import add_demo_arguments, run_demo, run_demo_command
from pipeline.cli.report import add_report_arguments, run_report

pytestmark = pytest.mark.slow
SECTIONS = ("findings", "divergence", "dark-spots", "charts", "alerts", "method")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    out_dir = tmp_path_factory.mktemp("demo")
    stale = out_dir / "clickhouse" / "stale-from-an-earlier-run"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    stdout, stderr = io.StringIO(), io.StringIO()
    assert run_demo(out_dir, stdout, stderr) == 0
    return out_dir, stdout.getvalue(), stderr.getvalue()


def test_demo_prints_alerts_with_their_summaries_and_the_counts(
    demo: tuple[Path, str, str],
) -> None:
    out_dir, out, err = demo
    assert re.search(r"^\d+ alerts \(severity, status, kind, unit, weeks\):$", out, re.M)
    first = re.search(r"^ ?1\. (HIGH|MEDIUM|LOW) +(open|resolved) .*\n +\S", out, re.M)
    assert first, out  # a heading line, then the summary sentence indented below it
    assert re.search(
        r"^read [\d,]+ lines: [\d,]+ accepted \([\d,]+ of them late, [^)]*\), 0 rejected, "
        r"[\d,]+ duplicates",
        out,
        re.M,
    )
    found = re.search(r"planted episodes \(detectable\): (\d+) of (\d+) found", out)
    assert found and int(found.group(2)) > 0 and int(found.group(1)) >= int(found.group(2)) - 1
    assert f"report: {out_dir / 'report.html'}" in out
    for step in ("[1/4] Simulating", "[2/4] Running the pipeline", "[3/4] Writing the report"):
        assert step in err


def test_demo_output_fits_the_terminal_width(demo: tuple[Path, str, str]) -> None:
    _, out, _ = demo
    assert max(len(line) for line in out.splitlines()) <= 100


def test_demo_writes_events_a_fresh_database_and_the_report(
    demo: tuple[Path, str, str],
) -> None:
    out_dir, _, _ = demo
    with (out_dir / "events.jsonl").open() as events:
        first = json.loads(next(events))
        assert first["schema_version"] == 1
        assert sum(1 for _ in events) > 10_000
    assert not (out_dir / "clickhouse" / "stale-from-an-earlier-run").exists()
    html = (out_dir / "report.html").read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f'<section id="{section}"' in html
    assert html.count('class="chart chart-xmr"') >= 3
    assert (out_dir / "report.html").stat().st_size < 1_500_000


def test_report_command_rebuilds_the_report_from_the_demo_database(
    demo: tuple[Path, str, str], tmp_path: Path
) -> None:
    out_dir, _, _ = demo
    parser = argparse.ArgumentParser()
    add_report_arguments(parser)
    target = tmp_path / "again" / "report.html"
    args = parser.parse_args(
        ["--clickhouse", f"chdb://{out_dir / 'clickhouse'}", "--out", str(target)]
    )
    stdout = io.StringIO()
    assert run_report(args, stdout) == 0
    assert f"report written to {target}" in stdout.getvalue()
    rebuilt = target.read_text(encoding="utf-8")
    original = (out_dir / "report.html").read_text(encoding="utf-8")
    strip = re.compile(r"Generated [^<]*")  # only the generation time may differ
    assert strip.sub("", rebuilt) == strip.sub("", original)


def test_demo_arguments() -> None:
    parser = argparse.ArgumentParser()
    add_demo_arguments(parser)
    args = parser.parse_args([])
    assert args.out_dir == Path("data") / "demo"
    assert parser.parse_args(["--seed", "3", "--out-dir", "x"]).seed == 3
    assert callable(run_demo_command)
