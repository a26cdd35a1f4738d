"""`pipeline spc`: CSV in, chart rows out, and a one-line InputError for every bad input."""

from __future__ import annotations

import argparse
import csv
import io
import math
import tempfile
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.analysis.spc_csv import OUTPUT_COLUMNS
from pipeline.cli.spc import add_spc_arguments, run_spc
from pipeline.errors import InputError

AE_DATA = Path("/work/shared/data/ae_attendances_2016-2019.csv")

# set.seed(123); rnorm(20), as in NHSRplotthedots' tests.
RNORM_123 = [
    -0.56047565, -0.23017749, 1.55870831, 0.07050839, 0.12928774,
    1.71506499, 0.46091621, -1.26506123, -0.68685285, -0.44566197,
    1.22408180, 0.35981383, 0.40077145, 0.11068272, -0.55584113,
    1.78691314, 0.49785048, -1.96661716, 0.70135590, -0.47279141,
]  # fmt: skip
DAYS = [(date(2020, 1, 1) + timedelta(days=i)).isoformat() for i in range(1, 21)]
CONTRACT_COLUMNS = ["x", "y", "f", "mean", "lpl", "upl", "point_type"]


def csv_text(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return stream.getvalue()


def run(*argv: str) -> list[dict[str, str]]:
    parser = argparse.ArgumentParser(prog="pipeline spc")
    add_spc_arguments(parser)
    out = io.StringIO()
    assert run_spc(parser.parse_args(list(argv)), out) == 0
    out.seek(0)
    reader = csv.DictReader(out)
    assert reader.fieldnames == list(OUTPUT_COLUMNS)
    return list(reader)


def run_on(directory: Path, text: str, *argv: str) -> list[dict[str, str]]:
    path = directory / "input.csv"
    path.write_text(text, encoding="utf-8")
    return run(str(path), *argv)


def rnorm_csv() -> str:
    return csv_text(["date", "value"], list(zip(DAYS, RNORM_123, strict=True)))


def test_one_row_per_point_with_the_contract_columns(tmp_path: Path) -> None:
    rows = run_on(tmp_path, rnorm_csv(), "--date-col", "date", "--value-col", "value")
    assert set(CONTRACT_COLUMNS) <= set(rows[0])
    assert [row["x"] for row in rows] == DAYS
    assert [float(row["y"]) for row in rows] == RNORM_123
    assert {row["f"] for row in rows} == {""}
    assert float(rows[0]["mean"]) == pytest.approx(0.1416238, abs=5e-8)
    assert float(rows[0]["lpl"]) == pytest.approx(-3.01138, abs=5e-6)
    assert float(rows[0]["upl"]) == pytest.approx(3.294627, abs=5e-7)
    assert {row["point_type"] for row in rows} == {"common_cause"}
    assert {(row["variation"], row["assurance"], row["target"]) for row in rows} == {
        ("common_cause", "", "")
    }


def test_each_facet_is_its_own_chart(tmp_path: Path) -> None:
    # test-ptd_spc.R summary: facet 0 mean 0.0746, limits -2.60 and 2.75; facet 1 0.209, -3.28
    # and 3.70.
    facets = [0] * 10 + [1] * 10
    text = csv_text(["x", "y", "facet"], list(zip(DAYS, RNORM_123, facets, strict=True)))
    rows = run_on(tmp_path, text, "--date-col", "x", "--value-col", "y", "--facet-col", "facet")
    by_facet = {row["f"]: row for row in rows}
    assert [row["f"] for row in rows] == ["0"] * 10 + ["1"] * 10
    for facet, expected in {"0": (0.0746, -2.60, 2.75), "1": (0.209, -3.28, 3.70)}.items():
        row = by_facet[facet]
        actual = (float(row["mean"]), float(row["lpl"]), float(row["upl"]))
        assert actual == pytest.approx(expected, abs=0.005)


@settings(max_examples=25, deadline=None)
@given(st.permutations(range(20)))
def test_rows_come_out_by_facet_then_date_whatever_the_input_order(order: list[int]) -> None:
    rows = [(DAYS[i], RNORM_123[i], "B" if i % 2 else "A") for i in range(20)]
    args = ("--date-col", "d", "--value-col", "v", "--facet-col", "unit")
    with tempfile.TemporaryDirectory() as directory:
        in_order = run_on(Path(directory), csv_text(["d", "v", "unit"], rows), *args)
        shuffled = [rows[i] for i in order]
        assert run_on(Path(directory), csv_text(["d", "v", "unit"], shuffled), *args) == in_order
    assert [row["f"] for row in in_order] == ["A"] * 10 + ["B"] * 10
    a_dates = [row["x"] for row in in_order[:10]]
    assert a_dates == sorted(a_dates)


def test_date_times_are_accepted_and_written_as_iso(tmp_path: Path) -> None:
    text = csv_text(["t", "v"], [("2024-05-01T08:00:00Z", 1), ("2024-05-01T09:30:00+01:00", 2)])
    rows = run_on(tmp_path, text, "--date-col", "t", "--value-col", "v")
    assert [row["x"] for row in rows] == ["2024-05-01T08:00:00+00:00", "2024-05-01T09:30:00+01:00"]


def test_target_and_direction_give_the_assurance_verdict(tmp_path: Path) -> None:
    args = ["--date-col", "date", "--value-col", "value", "--target", "5"]
    increase = run_on(tmp_path, rnorm_csv(), *args)
    assert {(row["target"], row["assurance"]) for row in increase} == {("5.0", "consistent_fail")}
    decrease = run_on(tmp_path, rnorm_csv(), *args, "--improvement-direction", "decrease")
    assert {row["assurance"] for row in decrease} == {"consistent_pass"}


def test_direction_turns_a_signal_into_improvement_or_concern(tmp_path: Path) -> None:
    text = csv_text(["date", "value"], list(zip(DAYS, [*RNORM_123[:19], 9.0], strict=True)))
    args = ("--date-col", "date", "--value-col", "value")
    assert run_on(tmp_path, text, *args)[-1]["point_type"] == "special_cause_improvement"
    assert run_on(tmp_path, text, *args)[-1]["special_cause_rule"] == "outside_limits"
    decrease = run_on(tmp_path, text, *args, "--improvement-direction", "decrease")
    assert decrease[-1]["point_type"] == "special_cause_concern"
    assert decrease[-1]["variation"] == "special_cause_concern"


def test_rebase_dates_start_new_segments(tmp_path: Path) -> None:
    args = ["--date-col", "date", "--value-col", "value"]
    rows = run_on(tmp_path, rnorm_csv(), *args, "--rebase", DAYS[10])
    assert [row["rebase_group"] for row in rows] == ["0"] * 10 + ["1"] * 10
    assert rows[0]["mean"] != rows[-1]["mean"]
    twice = run_on(tmp_path, rnorm_csv(), *args, "--rebase", DAYS[5], "--rebase", DAYS[15])
    assert [row["rebase_group"] for row in twice] == ["0"] * 5 + ["1"] * 10 + ["2"] * 5


def test_fix_after_n_points_fixes_the_limits(tmp_path: Path) -> None:
    args = ["--date-col", "date", "--value-col", "value", "--fix-after-n-points", "12"]
    rows = run_on(tmp_path, rnorm_csv(), *args)
    unfixed = run_on(tmp_path, rnorm_csv(), "--date-col", "date", "--value-col", "value")
    assert len({row["upl"] for row in rows}) == 1
    assert rows[0]["upl"] != unfixed[0]["upl"]


def test_reads_standard_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(rnorm_csv()))
    assert len(run("-", "--date-col", "date", "--value-col", "value")) == 20


def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + rnorm_csv().encode())
    assert len(run(str(path), "--date-col", "date", "--value-col", "value")) == 20


def test_the_same_date_in_two_facets_is_fine(tmp_path: Path) -> None:
    text = csv_text(["d", "v", "u"], [("2020-01-01", 1, "A"), ("2020-01-01", 2, "B")])
    rows = run_on(tmp_path, text, "--date-col", "d", "--value-col", "v", "--facet-col", "u")
    assert [(row["f"], row["y"]) for row in rows] == [("A", "1.0"), ("B", "2.0")]


@pytest.mark.parametrize(
    ("text", "extra", "message"),
    [
        ("date,value\n2020-01-01,1\n", ["--value-col", "vals"], r"has no column 'vals' \(columns"),
        ("date,value\n2020-01-01,1\n2020-01-02,abc\n", [], r"line 3: value 'abc' is not a"),
        ("date,value\n2020-01-01,1\n2020-01-02,nan\n", [], r"line 3: value 'nan' is not a"),
        ("date,value\n2020-01-01,1e308\n2020-01-02,-1e308\n", [], r"line 2: value '1e308' is b"),
        ("date,value\n2020-01-01,1\n2020-01-02," + "9" * 302 + "\n", [], r"'9{40}…' is beyond"),
        ("date,value\n2020-13-01,1\n", [], r"line 2: date '2020-13-01' is not an ISO date"),
        ("date,value\n2020-01-01,\n", [], r"line 2: column 'value' is empty"),
        ("date,value\n2020-01-01\n", [], r"line 2: column 'value' is empty"),
        (
            "date,value\n2020-01-01,1\n2020-01-02T10:00,2\n",
            [],
            r"line 3: date '2020-01-02T10:00' is a date-time without offset but line 2 has a date",
        ),
        (
            "date,value\n2020-01-01,1\n2020-01-01,2\n",
            [],
            r"line 3: date 2020-01-01 appears twice \(also on line 2\)",
        ),
        (
            "date,value,unit\n2020-01-01,1,A\n2020-01-01,2,A\n",
            ["--facet-col", "unit"],
            r"line 3: date 2020-01-01 appears twice for unit 'A'",
        ),
        (
            "date,value,unit\n2020-01-01,1,\n",
            ["--facet-col", "unit"],
            r"line 2: column 'unit' is empty",
        ),
        ("", [], r"is empty: expected a header row"),
        ("date,value\n", [], r"has a header but no data rows"),
        (
            "date,value\n2020-01-01,1\n",
            ["--rebase", "2020-02-01"],
            r"--rebase 2020-02-01 matches no date",
        ),
        ("date,value\n2020-01-01,1\n", ["--fix-after-n-points", "11"], r"at least 12, not 11"),
        ("date,value\n2020-01-01,1\n", ["--target", "nan"], r"--target must be a finite number"),
    ],
)
def test_bad_input_is_one_clear_input_error(
    tmp_path: Path, text: str, extra: list[str], message: str
) -> None:
    args = ["--date-col", "date", "--value-col", "value", *extra]
    with pytest.raises(InputError, match=message) as raised:
        run_on(tmp_path, text, *args)
    assert "\n" not in str(raised.value)


def test_values_at_the_largest_magnitude_get_finite_limits(tmp_path: Path) -> None:
    text = "d,v\n" + "".join(f"2020-01-{day:02d},{(-1) ** day}e300\n" for day in range(1, 9))
    rows = run_on(tmp_path, text, "--date-col", "d", "--value-col", "v")
    assert all(math.isfinite(float(row[column])) for row in rows for column in ("lpl", "upl"))
    assert {row["point_type"] for row in rows} == {"common_cause"}


def test_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"cannot read .*absent\.csv: No such file"):
        run(str(tmp_path / "absent.csv"), "--date-col", "d", "--value-col", "v")


def test_a_file_that_is_not_utf8_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("date,value\n2020-01-01,caf\xe9\n".encode("latin-1"))
    with pytest.raises(InputError, match="is not UTF-8 text"):
        run(str(path), "--date-col", "date", "--value-col", "value")


@pytest.mark.parametrize(
    "argv",
    [
        ["in.csv", "--date-col", "d", "--value-col", "v", "--improvement-direction", "neutral"],
        ["in.csv", "--date-col", "d", "--value-col", "v", "--rebase", "2020-02-30"],
        ["in.csv", "--date-col", "d", "--value-col", "v", "--target", "high"],
        ["in.csv", "--value-col", "v"],
    ],
)
def test_bad_arguments_are_refused_by_the_parser(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="pipeline spc")
    add_spc_arguments(parser)
    with pytest.raises(SystemExit) as raised:
        parser.parse_args(argv)
    assert raised.value.code == 2
    assert "pipeline spc: error:" in capsys.readouterr().err


def test_real_ae_data_by_department_type(tmp_path: Path) -> None:
    if not AE_DATA.exists():
        pytest.skip(f"{AE_DATA} is not available")
    with AE_DATA.open(newline="") as stream:
        rl4 = [row for row in csv.DictReader(stream) if row["org_code"] == "RL4"]
    text = csv_text(
        ["period", "type", "attendances"],
        [(row["period"], row["type"], row["attendances"]) for row in rl4],
    )
    rows = run_on(
        tmp_path, text, "--date-col", "period", "--value-col", "attendances", "--facet-col", "type"
    )
    symbols = {"common_cause": ".", "special_cause_improvement": "+", "special_cause_concern": "-"}
    types = "".join(symbols[row["point_type"]] for row in rows)
    # NHSRplotthedots' integration snapshot, with the #143 fix (see test_spc_properties.py).
    assert types == "....-------" + "." * 25 + "-----.......++....++++++++++....++.."
    assert [row["x"] for row in rows[:2]] == ["2016-04-01", "2016-05-01"]
    assert {row["variation"] for row in rows} == {"common_cause"}
