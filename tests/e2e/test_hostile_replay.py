"""Hostile input end to end, as a user runs it: `pipeline publish --check`, `pipeline replay`
(twice), `pipeline stats` and `pipeline report` over a simulated trust mixed with the hostile
corpus, events spread over 36 years of months, NHS numbers in every kind of place and an
oversized line on standard input.

Checked: both commands exit 0 and give each line the same verdict; replay's accounting is
exact (read = accepted + rejected + duplicates) with the corpus' expected reasons; a second run
stores nothing; no planted NHS number appears in any table, the alerts, the summaries, the
logs or the report, however it was written.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pipeline.adapters.clickhouse import ClickHouseSink
from pipeline.core.privacy import is_valid_nhs_number
from pipeline.core.textview import Reading
from tests.support.event_examples import valid_event

pytestmark = pytest.mark.slow
PIPELINE = Path(sys.executable).with_name("pipeline")
HOSTILE = Path(__file__).resolve().parents[1] / "fixtures" / "hostile"
MANIFEST: dict[str, dict[str, str]] = json.loads((HOSTILE / "expected.json").read_text())
PLANTED = ["9434765919", "4010232137", "4505577104"]  # valid NHS numbers
FORMS = [
    "{a} {b} {c}",
    "{a}\u200b{b}\u00ad{c}",
    "{a}.{b}.{c}",
    "{a}/{b}/{c}",
    "{a}_{b}_{c}",
    "{a}\u2212{b}\u2212{c}",
    "{a}\uff0d{b}\uff0d{c}",
    "{a}     {b}     {c}",
    "{a}{b}{c}",
]


def written(number: str, form: str) -> str:
    return form.format(a=number[:3], b=number[3:6], c=number[6:])


def survives(number: str, text: str) -> bool:
    """`number` readable in `text`: its digits in order with only non-letters between them."""
    read = Reading(text, 2).text
    return re.search(r"[\W_]{0,12}".join(number), read) is not None


def _event(kind: str, index: int, **changes: Any) -> dict[str, Any]:
    return valid_event(kind, event_id=str(uuid.UUID(int=index + 1)), **changes)


def _input(tmp: Path) -> tuple[Path, Counter[str], int]:
    """The input file, the rejections expected by reason, and how many lines are valid."""
    lines: list[bytes] = []
    expected: Counter[str] = Counter()
    for name, entry in sorted(MANIFEST.items()):
        raw = (HOSTILE / name).read_bytes()
        if b"\n" in raw or b"\r" in raw or not raw.strip():
            continue  # one message per line: these cannot be one line of a file
        lines.append(raw)
        expected[entry["reason"]] += 1
    valid = 0
    for month in range(12 * 36):  # 144 quarters: more partitions than one insert may touch
        year, month_of_year = 1990 + month // 12, month % 12 + 1
        number = PLANTED[month % 3]
        comment = f"NHS {written(number, FORMS[month % len(FORMS)])}, call 07700 900123"
        event = _event(
            "patient_feedback",
            month,
            occurred_at=f"{year}-{month_of_year:02d}-15T12:00:00+01:00",
            comment=comment,
        )
        lines.append(json.dumps(event, ensure_ascii=month % 2 == 0).encode())
        valid += 1
    for index, form in enumerate(FORMS):
        for label in ("reporter_role", "source"):
            event = _event("incident_report", 10_000 + index, **{label: written(PLANTED[0], form)})
            lines.append(json.dumps(event, ensure_ascii=False).encode())
            expected["invalid_value"] += 1
    path = tmp / "input.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, expected, valid


def run(*args: str, stdin: bytes = b"", cwd: Path) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
    return subprocess.run(
        [str(PIPELINE), *args], input=stdin, capture_output=True, cwd=cwd, env=env, timeout=900
    )


def test_the_planted_numbers_are_valid_and_found_as_written() -> None:
    assert all(is_valid_nhs_number(number) for number in PLANTED)
    assert all(survives(n, written(n, form)) for n in PLANTED for form in FORMS)


def test_hostile_input_end_to_end(tmp_path: Path) -> None:
    path, expected, valid = _input(tmp_path)
    oversized = b'{"comment": "' + b"9434765919 " * 400_000  # 4.4 MB, no newline at all
    dsn = f"chdb://{tmp_path / 'db'}"
    logs: list[bytes] = []

    checked = run("publish", "--check", str(path), "--summary-json", "check.json", cwd=tmp_path)
    logs += [checked.stdout, checked.stderr]
    assert checked.returncode == 0, checked.stderr.decode()[-2000:]
    check = json.loads((tmp_path / "check.json").read_text())

    first = run(
        "replay", str(path), "-", "--clickhouse", dsn, "--summary-json", "first.json",
        "--alerts-out", "alerts.jsonl", stdin=oversized, cwd=tmp_path,
    )  # fmt: skip
    logs += [first.stdout, first.stderr]
    assert first.returncode == 0, first.stderr.decode()[-2000:]
    summary = json.loads((tmp_path / "first.json").read_text())
    assert summary["read"] == summary["accepted"] + summary["rejected"] + summary["duplicates"]
    assert summary["read"] == check["read"] + 1  # and the oversized line from stdin
    assert summary["accepted"] == valid == check["valid"]
    assert summary["rejected_by_reason"] == dict(expected + Counter(too_large=1))
    assert check["rejected_by_reason"] == dict(expected)

    again = run("replay", str(path), "--clickhouse", dsn, "--summary-json", "again.json",
                cwd=tmp_path)  # fmt: skip
    logs += [again.stdout, again.stderr]
    assert again.returncode == 0, again.stderr.decode()[-2000:]
    second = json.loads((tmp_path / "again.json").read_text())
    assert (second["accepted"], second["duplicates"]) == (0, valid)

    stats = run("stats", "--clickhouse", dsn, cwd=tmp_path)
    counts = json.loads(stats.stdout)
    assert counts["events"]["patient_feedback"] == valid
    assert counts["rejected"] == summary["rejected"]
    report = run("report", "--clickhouse", dsn, "--out", "report.html", cwd=tmp_path)
    logs += [report.stdout, report.stderr]
    assert report.returncode == 0, report.stderr.decode()[-2000:]

    shown = [log.decode("utf-8", "replace") for log in logs]
    outputs = ("check.json", "first.json", "again.json", "alerts.jsonl", "report.html")
    shown += [(tmp_path / name).read_text() for name in outputs]
    shown += _every_stored_value(dsn)
    for number in PLANTED:
        leaks = [text[:200] for text in shown if survives(number, text)]
        assert not leaks, (number, leaks)


def _every_stored_value(dsn: str) -> list[str]:
    sink = ClickHouseSink(dsn, "quality", "week")
    try:
        tables = [r["name"] for r in sink.query_dicts("SHOW TABLES FROM quality")]
        values: list[str] = []
        for table in tables:
            for row in sink.query_dicts(f"SELECT * FROM quality.{table}"):
                for name, value in row.items():
                    if name == "raw_base64":
                        value = base64.b64decode(value).decode("utf-8", "replace")
                    values.append(str(value))
        assert len(values) > 1000
        return values
    finally:
        sink.close()
