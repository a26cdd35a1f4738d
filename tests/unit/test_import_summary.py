"""`pipeline import` loses nothing silently: rows that share an event's identity are summed or
written once, and what is skipped, adjusted or revised is counted per reason on standard error
(never a cell's content)."""

from __future__ import annotations

import io
import json
from argparse import Namespace
from pathlib import Path
from typing import Any

from pipeline.adapters.publications import REPEATED, REVISED, Tally, import_events
from pipeline.adapters.publications.ae_monthly import (
    NO_ATTENDANCES,
    OVER_ABOVE_SEEN,
    SUPPRESSED_FIGURES,
)
from pipeline.adapters.publications.common import NOT_ORG_CODE
from pipeline.adapters.publications.fft_monthly import (
    NO_RESPONSES,
    SITE_FALLBACK_SUMMED,
    SUPPRESSED_COUNTS,
)
from pipeline.cli.importer import REVISION_NOTE, run_import

FIXTURES = Path(__file__).parents[1] / "fixtures" / "publications"
FFT_HEADER = (
    "Periodname,Org Code,Site Code,Very Good,Good,Neither Good nor Poor,Poor,Very Poor,Dont Know"
)
OLDER_HEADER = "period,org_code,type,attendances,breaches"


def imported(kind: str, paths: list[Path], tally: Tally) -> list[dict[str, Any]]:
    return [json.loads(line) for line in import_events(kind, paths, tally=tally)]


def test_fft_sites_without_a_site_code_are_summed_into_one_event(tmp_path: Path) -> None:
    path = tmp_path / "fft_sites.csv"
    path.write_text(
        f"{FFT_HEADER}\n"
        "SEPTEMBER-2022,RX6,RX6A1,10,5,1,1,1,0\n"
        "SEPTEMBER-2022,RX6,,20,4,0,0,1,1\n"
        "SEPTEMBER-2022,RX6,-,7,3,2,0,0,0\n"
        "SEPTEMBER-2022,RX6,,0,0,0,0,0,0\n"
    )
    tally = Tally()
    out = imported("fft-monthly", [path], tally)
    by_unit = {e["unit_id"]: e["counts"] for e in out}
    assert by_unit == {
        "RX6A1": {"1": 10, "2": 5, "3": 1, "4": 1, "5": 1, "6": 0},
        "all": {"1": 27, "2": 7, "3": 2, "4": 0, "5": 1, "6": 1},
    }
    assert len({e["event_id"] for e in out}) == len(out)
    assert tally == {SITE_FALLBACK_SUMMED: 1, NO_RESPONSES: 1}


def test_a_site_code_holding_an_nhs_number_falls_back_to_the_unit_given(tmp_path: Path) -> None:
    """A Site Code that is no unit id the contract accepts (here a valid NHS number, which an
    identifier must not hold) falls back like a blank one; it refused the whole file."""
    path = tmp_path / "fft_sites.csv"
    path.write_text(
        f"{FFT_HEADER}\n"
        "SEPTEMBER-2022,RX6,RX6A1,10,5,1,1,1,0\n"
        "SEPTEMBER-2022,RX6,9434765919,20,4,0,0,1,1\n"
    )
    tally = Tally()
    out = imported("fft-monthly", [path], tally)
    assert {e["unit_id"]: e["counts"]["1"] for e in out} == {"RX6A1": 10, "all": 20}
    assert "9434765919" not in json.dumps(out)


def test_two_editions_read_together_write_each_id_once_and_count_the_revisions(
    tmp_path: Path,
) -> None:
    original = FIXTURES / "ambsys.csv"
    lines = original.read_text().splitlines()
    # the revised edition corrects September 2021's Category 1 incident count (A8)
    revised_row = lines[1].split(",")
    assert revised_row[:4] == ["2021", "9", "Y63", "RX6"]
    revised_row[13] = str(int(revised_row[13]) + 50)
    revised = tmp_path / "ambsys_revised.csv"
    revised.write_text("\n".join([lines[0], ",".join(revised_row), *lines[2:]]) + "\n")

    tally = Tally()
    out = imported("ambsys", [original, revised], tally)
    alone = imported("ambsys", [original], Tally())
    assert out == alone  # the first edition read is the one written
    # only the Category 1 mean (total / A8) changes; its 90th centile is published as is
    assert tally[REVISED] == 1
    assert tally[REPEATED] == len(alone) - 1


def test_rows_skipped_or_adjusted_are_counted_by_reason(tmp_path: Path) -> None:
    path = tmp_path / "ae_older.csv"
    path.write_text(
        f"{OLDER_HEADER}\n"
        "2017-03-01,RXA,1,100,120\n"  # more over 4 hours than attendances
        "2017-03-01,rxb,1,100,10\n"  # an ODS code in lower case
        "2017-03-01,RXC,1,0,0\n"  # no attendances
        "2017-03-01,RXD,1,100,10\n"
    )
    tally = Tally()
    out = imported("ae-monthly", [path], tally)
    assert [(e["org_id"], e["numerator"]) for e in out] == [("RXA", 0), ("RXD", 90)]
    assert tally == {OVER_ABOVE_SEEN: 1, NOT_ORG_CODE: 1, NO_ATTENDANCES: 1}


def test_suppressed_cells_read_as_0_are_counted(tmp_path: Path) -> None:
    fft = tmp_path / "fft.csv"
    fft.write_text(f"{FFT_HEADER}\nSEPTEMBER-2022,RX6,RX6A1,10,*,1,*,0,0\n")
    ae = tmp_path / "ae.csv"
    ae.write_text(f"{OLDER_HEADER}\n2017-03-01,RXA,1,100,*\n2017-03-01,RXA,2,,\n")
    tally = Tally()
    (feedback,) = imported("fft-monthly", [fft], tally)
    (share,) = imported("ae-monthly", [ae], tally)
    assert feedback["counts"] == {"1": 10, "2": 0, "3": 1, "4": 0, "5": 0, "6": 0}
    assert (share["numerator"], share["denominator"]) == (100, 100)
    # a blank cell is no figure, not a suppressed one
    assert tally == {SUPPRESSED_COUNTS: 1, SUPPRESSED_FIGURES: 1}


def test_the_command_prints_the_summary_on_standard_error_without_cell_content(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ae_older.csv"
    path.write_text(f"{OLDER_HEADER}\n2017-03-01,Xy9999999999,1,100,10\n2017-03-01,RXD,1,5,1\n")
    args = Namespace(kind="ae-monthly", files=[path], out=None, unit=None, target=None)
    out, err = io.StringIO(), io.StringIO()
    assert run_import(args, out, err) == 0
    assert len(out.getvalue().splitlines()) == 1
    report = err.getvalue()
    assert "pipeline import: 1 event from 1 file" in report
    assert f"       1  {NOT_ORG_CODE}" in report
    assert REVISION_NOTE in report
    assert "Xy9999999999" not in report
