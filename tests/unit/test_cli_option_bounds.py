"""Option values outside what they can mean are usage errors (exit 2, naming the option), not
arithmetic on nonsense or a data row blamed for the option (seen from outside, nineteenth
session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli.main import main

FIXTURES = Path(__file__).parents[1] / "fixtures" / "publications"


@pytest.mark.parametrize(
    "option",
    [
        ["--max-reported", "-5"],  # printed "... and 22 more bad lines" for 17 bad lines
        ["--timeout", "-1"],  # "cannot reach Kafka ... within -1 s"
        ["--timeout", "0"],
        ["--timeout", "inf"],
        ["--timeout", "nan"],
    ],
)
def test_publish_refuses_a_negative_count_or_a_timeout_that_is_no_time(
    option: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("not json\n")
    with pytest.raises(SystemExit) as exited:
        main(["publish", "--check", str(events), *option])
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert f"argument {option[0]}" in captured.err and captured.out == ""


def test_publish_still_takes_zero_lines_reported_one_by_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("not json\n")
    assert main(["publish", "--check", str(events), "--max-reported", "0"]) == 0
    assert "1 more bad line" in capsys.readouterr().err


@pytest.mark.parametrize("target", ["95", "0", "-0.5", "nan", "inf"])
def test_import_refuses_a_target_that_is_no_share(
    target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--target 95` (a percentage for a share) exited 1 blaming the file's first row: 'a row
    of RF4 gives no valid event (invalid_value at target ...)'."""
    out = tmp_path / "events.jsonl"
    with pytest.raises(SystemExit) as exited:
        main(["import", "ae-monthly", str(FIXTURES / "ae_monthly_current.csv"), "--target", target,
              "--out", str(out)])  # fmt: skip
    assert exited.value.code == 2
    assert "argument --target" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("unit", ["A&E dept", "9434765919", "_ae", "x" * 65])
def test_import_refuses_a_unit_the_contract_would_reject(
    unit: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--unit 'A&E dept'` exited 1 blaming the file: 'a row of RF4 gives no valid event
    (invalid_value at unit_id ...)'; an NHS number as a unit is refused without echoing it."""
    out = tmp_path / "events.jsonl"
    with pytest.raises(SystemExit) as exited:
        main(["import", "ae-monthly", str(FIXTURES / "ae_monthly_current.csv"), "--unit", unit,
              "--out", str(out)])  # fmt: skip
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --unit" in err and "9434765919" not in err
    assert not out.exists()
