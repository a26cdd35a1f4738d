"""`pipeline rekey` on the real ClickHouse engine: after a rotation, stored pseudonyms are
rewritten so that one patient keeps one pseudonym, and the key id shows which chain made it."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from pipeline.adapters.clickhouse import ClickHouseSink
from pipeline.cli.main import main
from pipeline.core.pseudonyms import PseudonymKeys

OLD = "3b9f0c51e7a24d86b1c09e47fa53d218"
NEW = "a07d4e92c15b38f6e2d9a4017cb86e53"
REFS = ["MRN-0001", "MRN-0002", "MRN-0003"]
REPO = Path(__file__).resolve().parents[2]


def _incidents(day: int) -> str:
    return "".join(
        json.dumps(
            {
                "schema_version": 1,
                "event_type": "incident_report",
                "event_id": str(uuid.uuid4()),
                "org_id": "RXA",
                "unit_id": "ward-1",
                "occurred_at": f"2024-03-{day:02d}T10:00:00Z",
                "source": "datix",
                "category": "fall",
                "harm": "low",
                "patient_ref": ref,
            }
        )
        + "\n"
        for ref in REFS
    )


def documented_keys(doc: str) -> set[str]:
    """The keys a document says `pipeline rekey` prints: its `{"key_id", …}` list."""
    text = (REPO / doc).read_text()
    listed = re.search(r'`\{("key_id",[^}]*)\}`', text)
    assert listed is not None, f"{doc} lists what rekey prints"
    return set(re.findall(r'"(\w+)"', listed[1]))


def _stored(dsn: str) -> list[dict[str, Any]]:
    sink = ClickHouseSink(dsn, "quality", "week")
    try:
        return sink.query_dicts(
            "SELECT patient_pseudonym, patient_key_id, payload FROM quality.incident_reports "
            "FINAL ORDER BY occurred_at, patient_pseudonym"
        )
    finally:
        sink.close()


def test_rekey_after_a_rotation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    dsn = f"chdb://{tmp_path / 'ch'}"
    (tmp_path / "march.jsonl").write_text(_incidents(4))
    monkeypatch.setenv("PIPELINE_PSEUDONYMISATION_KEY", OLD)
    assert main(["replay", "march.jsonl", "--clickhouse", dsn]) == 0
    old_id = PseudonymKeys((OLD.encode(),)).key_id
    before = _stored(dsn)
    assert {row["patient_key_id"] for row in before} == {old_id}

    # rotation: the new key, chained after the old one
    monkeypatch.setenv("PIPELINE_PSEUDONYMISATION_KEY", NEW)
    monkeypatch.setenv("PIPELINE_PSEUDONYMISATION_PREVIOUS_KEYS", OLD)
    chain = PseudonymKeys((OLD.encode(), NEW.encode()))
    capsys.readouterr()
    assert main(["rekey", "--clickhouse", dsn, "--dry-run"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["rekeyed"] == 3 and dry["stored_by_key_id"] == {old_id: 3}
    assert dry["dry_run"] is True
    assert main(["rekey", "--clickhouse", dsn]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dry_run"] is False
    assert (
        set(report) == documented_keys("docs/operations.md") == documented_keys("docs/CONTRACT.md")
    )
    assert report["rekeyed_by_key_id"] == {old_id: 3}
    assert report["stored_by_key_id"] == {chain.key_id: 3}
    assert OLD not in json.dumps(report) and NEW not in json.dumps(report)

    after = _stored(dsn)
    assert {row["patient_key_id"] for row in after} == {chain.key_id}
    rekeyed = {row["patient_pseudonym"] for row in after}
    assert rekeyed == {chain.pseudonymise("RXA", ref) for ref in REFS}
    assert all(json.loads(r["payload"])["patient_ref"] == r["patient_pseudonym"] for r in after)
    assert not rekeyed & {row["patient_pseudonym"] for row in before}

    # the same patients arriving after the rotation get the same pseudonyms as before it
    (tmp_path / "april.jsonl").write_text(_incidents(25))
    assert main(["replay", "april.jsonl", "--clickhouse", dsn]) == 0
    latest = _stored(dsn)
    assert len(latest) == 6
    assert {row["patient_pseudonym"] for row in latest} == rekeyed
    capsys.readouterr()
    assert main(["rekey", "--clickhouse", dsn]) == 0  # nothing left: a no-op
    assert json.loads(capsys.readouterr().out)["rekeyed"] == 0


@pytest.mark.parametrize("command", ["replay", "worker", "stats", "migrate", "rekey"])
def test_no_command_prints_a_dsn_password(
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server DSN with a password (here unreachable): the error names it masked."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIPELINE_PSEUDONYMISATION_KEY", NEW)
    (tmp_path / "march.jsonl").write_text(_incidents(4))
    secret = "Ch-pass@word:9"
    dsn = f"http://pipeline:{secret}@127.0.0.1:9/quality?password={secret}x"
    argv = [command, *(["march.jsonl"] if command == "replay" else []), "--clickhouse", dsn]
    code = main([*argv, *(["--metrics-port", "0"] if command == "worker" else [])])
    captured = capsys.readouterr()
    assert code == 1
    text = captured.out + captured.err + caplog.text
    assert "http://pipeline:***@127.0.0.1:9/quality?password=***" in text
    assert secret not in text and "pass@word" not in text and "word:9" not in text
