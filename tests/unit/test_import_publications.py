"""`pipeline import`: NHS England's published layouts in, contract events out, ids that do not
change on re-import, and a clear refusal of a layout the importer does not know."""

from __future__ import annotations

import io
import json
from argparse import Namespace
from pathlib import Path
from typing import Any

import pytest

from pipeline.adapters.publications import import_events
from pipeline.adapters.publications.ae_monthly import standard_for
from pipeline.cli.importer import run_import
from pipeline.core.decode import Rejection, decode
from pipeline.errors import LayoutError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "publications"
# The real publications beside the checkout (`../shared/data`; a worktree sits one level deeper)
_REPO = Path(__file__).parents[2]
SHARED = next(
    (p / "shared" / "data" for p in (_REPO.parent, _REPO.parent.parent) if (p / "shared").is_dir()),
    _REPO.parent / "shared" / "data",
)


def events(kind: str, name: str, **options: Any) -> list[dict[str, Any]]:
    lines = list(import_events(kind, [FIXTURES / name], **options))
    for line in lines:
        assert not isinstance(decode(line.encode()), Rejection)
    return [json.loads(line) for line in lines]


def test_ae_monthly_current_layout_gives_4_hour_shares_against_the_78_percent_standard() -> None:
    out = events("ae-monthly", "ae_monthly_current.csv")
    # 2 providers x 3 months; the closed unit (no attendances) and the total row give nothing
    assert len(out) == 6
    first = out[0]
    assert (first["org_id"], first["unit_id"], first["metric"]) == ("RXA", "ae", "ae_4h")
    # all six attendance columns, less all six over-4-hours columns
    assert first["denominator"] == 9000 + 1500 + 120 + 30
    assert first["numerator"] == first["denominator"] - (2700 + 40 + 20)
    assert {e["target"] for e in out} == {0.78}
    assert first["period_start"] == "2024-08-01T00:00:00Z"
    assert first["period_end"] == "2024-09-01T00:00:00Z"


def test_ae_monthly_older_layout_sums_the_department_types_against_95_percent() -> None:
    out = events("ae-monthly", "ae_attendances_older.csv")
    by_key = {(e["org_id"], e["period_start"][:7]): e for e in out}
    assert set(by_key) == {("RXA", "2017-03"), ("RXA", "2017-04"), ("NXB01", "2017-03")}
    march = by_key[("RXA", "2017-03")]
    assert (march["numerator"], march["denominator"]) == (24600 - 2926, 24600)
    assert march["target"] == 0.95


def test_the_4_hour_standard_follows_the_month() -> None:
    from datetime import UTC, datetime

    assert standard_for(datetime(2019, 3, 1, tzinfo=UTC)) == 0.95
    assert standard_for(datetime(2023, 9, 1, tzinfo=UTC)) == 0.76
    assert standard_for(datetime(2024, 8, 1, tzinfo=UTC)) == 0.78


def test_ambsys_gives_value_targets_in_minutes_lower_is_better() -> None:
    out = events("ambsys", "ambsys.csv")
    c2 = [e for e in out if e["metric"] == "amb_c2_mean"]
    assert len(c2) == 13  # the England row is skipped
    assert {(e["unit"], e["target"], e["higher_is_better"]) for e in c2} == {
        ("minutes", 18.0, False)
    }
    assert c2[0]["value"] == pytest.approx(27.2, abs=0.01)
    assert max(e["value"] for e in c2) == pytest.approx(49.1, abs=0.01)
    assert "numerator" not in c2[0]
    # the suppressed Category 4 centile (".") gives no event for that month
    assert len([e for e in out if e["metric"] == "amb_c4_p90"]) == 12


def test_fft_monthly_gives_one_counts_event_per_provider_month() -> None:
    out = events("fft-monthly", "fft_monthly_provider.csv", unit_id="see-and-convey")
    assert len(out) == 13
    first = out[0]
    assert first["unit_id"] == "see-and-convey"
    assert first["counts"] == {"1": 148, "2": 64, "3": 7, "4": 7, "5": 7, "6": 0}
    assert (first["period_start"], first["period_end"]) == (
        "2021-09-01T00:00:00Z",
        "2021-10-01T00:00:00Z",
    )


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("ae-monthly", "ae_monthly_current.csv"),
        ("ambsys", "ambsys.csv"),
        ("fft-monthly", "fft_monthly_provider.csv"),
    ],
)
def test_importing_twice_gives_the_same_ids(kind: str, name: str) -> None:
    once = events(kind, name)
    again = events(kind, name)
    assert once == again
    assert len({e["event_id"] for e in once}) == len(once)


def test_an_unknown_layout_is_refused_naming_the_columns_expected(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("Month,Trust,Seen\n2024-08,RXA,100\n")
    with pytest.raises(LayoutError) as error:
        list(import_events("ae-monthly", [path]))
    message = str(error.value)
    assert "Month, Trust, Seen" in message
    assert "Attendances over 4hrs Type 1" in message and "breaches" in message


def test_the_command_writes_json_lines_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    args = Namespace(
        kind="ambsys", files=[FIXTURES / "ambsys.csv"], out=out, unit="999", target=None
    )
    assert run_import(args, io.StringIO(), io.StringIO()) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == len(events("ambsys", "ambsys.csv"))


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared real data is not here")
@pytest.mark.parametrize(
    ("name", "standard"),
    [
        ("ae_monthly_by_provider_2024-08_to_2025-07.csv", 0.78),
        ("ae_attendances_2016-2019.csv", 0.95),
    ],
)
def test_the_real_publications_import_whole(name: str, standard: float) -> None:
    lines = list(import_events("ae-monthly", [SHARED / name]))
    out = [json.loads(line) for line in lines]
    assert len(out) > 1000
    assert len({e["event_id"] for e in out}) == len(out)
    if standard == 0.78:
        assert {e["target"] for e in out} == {0.78}
    else:
        assert {e["target"] for e in out} <= {0.95, 0.76}
