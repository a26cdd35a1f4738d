"""Output paths a command cannot write: one line naming the path and exit status 1, found
before the work (a long replay's result is not lost to a bad path at its end), never a
traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import replay as replay_command
from pipeline.cli import report as report_command
from pipeline.cli.main import main
from pipeline.cli.outputs import check_output_file, make_output_directory, writing
from pipeline.errors import InputError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "publications"


def refuse_to_run(*args: object, **kwargs: object) -> None:
    raise AssertionError("the output path should have been refused before any work")


def test_a_directory_given_as_an_output_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"cannot write .*: it is a directory"):
        check_output_file(tmp_path)


def test_a_file_given_as_an_output_directory_is_refused(tmp_path: Path) -> None:
    a_file = tmp_path / "events.jsonl"
    a_file.write_text("")
    with pytest.raises(InputError, match=r"cannot write .*events\.jsonl/summary\.json"):
        check_output_file(a_file / "summary.json")
    with pytest.raises(InputError, match=r"cannot write in the directory .*events\.jsonl"):
        make_output_directory(a_file)


def test_missing_directories_of_an_output_file_are_created(tmp_path: Path) -> None:
    out = check_output_file(tmp_path / "a" / "b" / "alerts.jsonl")
    assert out.parent.is_dir() and not out.exists()


def test_an_error_while_writing_names_the_path(tmp_path: Path) -> None:
    no_space = pytest.raises(InputError, match=r"cannot write .*report\.html: No space left")
    with no_space, writing(tmp_path / "report.html"):
        raise OSError(28, "No space left on device")


@pytest.mark.parametrize("option", ["--alerts-out", "--summary-json"])
def test_replay_refuses_its_output_paths_before_reading_any_input(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    option: str,
) -> None:
    monkeypatch.setattr(replay_command, "build_embedded", refuse_to_run)
    events = tmp_path / "events.jsonl"
    events.write_text("")
    assert main(["replay", str(events), option, str(tmp_path)]) == 1
    assert (
        capsys.readouterr().err.strip()
        == f"pipeline replay: cannot write {tmp_path}: it is a directory"
    )


def test_replay_of_a_file_that_cannot_be_read_makes_no_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Seen from outside (twenty-fourth session): a mistyped input path left an empty store."""
    store, missing = tmp_path / "store", tmp_path / "no-such.jsonl"
    assert main(["replay", str(missing), "--clickhouse", f"chdb://{store}"]) == 1
    assert f"pipeline replay: cannot read {missing}: No such file" in capsys.readouterr().err
    assert not store.exists()


def test_report_refuses_its_output_path_before_reading_clickhouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(report_command, "open_sink", refuse_to_run)
    assert main(["report", "--out", str(tmp_path)]) == 1
    assert "pipeline report: cannot write" in capsys.readouterr().err


def test_simulate_and_import_refuse_their_output_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "taken"
    a_file.write_text("")
    assert main(["simulate", "--out", str(a_file), "--orgs", "1", "--units", "2"]) == 1
    assert "pipeline simulate: cannot write in the directory" in capsys.readouterr().err
    assert main(["import", "ambsys", str(FIXTURES / "ambsys.csv"), "--out", str(tmp_path)]) == 1
    assert "pipeline import: cannot write" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]  # no temporary file left


def test_publish_refuses_its_summary_path_before_sending_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("")
    assert main(["publish", "--check", str(events), "--summary-json", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == f"pipeline publish: cannot write {tmp_path}: it is a directory"
    assert captured.out == ""  # refused before any line was read, let alone sent


@pytest.mark.parametrize("command", [["stats"], ["report", "--out", "r.html"]])
def test_a_read_command_on_a_store_that_does_not_exist_says_so(
    command: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A mistyped chdb:// path: not an empty store made there and zeros printed."""
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "no-such-store"
    assert main([*command, "--clickhouse", f"chdb://{missing}"]) == 1
    assert "no pipeline data at" in capsys.readouterr().err
    assert not missing.exists()


@pytest.mark.parametrize("option", ["--alerts-out", "--summary-json"])
def test_replay_refuses_to_write_over_one_of_its_inputs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    option: str,
) -> None:
    """QA: `replay events.jsonl --alerts-out events.jsonl` read the events, then replaced the
    recording with its (empty) alert list, and exited 0. Named another way (a symlink) too."""
    monkeypatch.setattr(replay_command, "build_embedded", refuse_to_run)
    events = tmp_path / "events.jsonl"
    events.write_text('{"recorded": true}\n')
    (tmp_path / "same.jsonl").symlink_to(events)
    for output in (events, tmp_path / "same.jsonl"):
        assert main(["replay", "-", str(events), option, str(output)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"pipeline replay: error: {option} {output} is also an input")
    assert events.read_text() == '{"recorded": true}\n'


def test_replay_refuses_one_file_for_both_of_its_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(replay_command, "build_embedded", refuse_to_run)
    events, out = tmp_path / "events.jsonl", tmp_path / "out.json"
    events.write_text("")
    options = ["--alerts-out", str(out), "--summary-json", str(out)]
    assert main(["replay", str(events), *options]) == 2
    assert "--summary-json and --alerts-out are one file" in capsys.readouterr().err


def test_publish_and_import_refuse_to_write_over_one_of_their_inputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """QA: `publish events.jsonl --summary-json events.jsonl` left a summary whose
    `resume_from` names the file it had just overwritten; `import ae-monthly x.csv --out x.csv`
    replaced the published CSV with events."""
    events = tmp_path / "events.jsonl"
    events.write_text("\n")
    assert main(["publish", "--check", str(events), "--summary-json", str(events)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"pipeline publish: error: --summary-json {events} is also")
    assert captured.out == "" and events.read_text() == "\n"
    published = tmp_path / "ambsys.csv"
    published.write_bytes((FIXTURES / "ambsys.csv").read_bytes())
    assert main(["import", "ambsys", str(published), "--out", str(published)]) == 2
    assert "pipeline import: error: --out" in capsys.readouterr().err
    assert published.read_bytes() == (FIXTURES / "ambsys.csv").read_bytes()
