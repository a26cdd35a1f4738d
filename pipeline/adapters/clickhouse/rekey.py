"""Re-keying stored patient pseudonyms after a key rotation (`pipeline rekey`).

Every incident report whose pseudonym was made by an earlier prefix of the current key chain
(pipeline/core/pseudonyms.py) is written again with the pseudonym the whole chain makes, in its
column and in its stored payload. The tables replace rows by event id (ReplacingMergeTree), so
the new row supersedes the old; the table is then merged (`OPTIMIZE … FINAL`) so that the old
pseudonyms are gone from disk, not only hidden. Pseudonyms of another chain (key ids not in the
current chain) cannot be re-keyed with these keys: they are counted and left as they are.
Safe to run again: rows already under the current key id are not touched.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pipeline.adapters.clickhouse import ClickHouseSink
from pipeline.core.pseudonyms import PseudonymKeys, pseudonym_key_id

TABLE = "incident_reports"
BATCH_ROWS = 10_000


@dataclass
class RekeyReport:
    """What a re-keying did: rows rewritten per old key id, rows it could not re-key."""

    key_id: str
    rekeyed: Counter[str] = field(default_factory=Counter)
    foreign: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "rekeyed": sum(self.rekeyed.values()),
            "rekeyed_by_key_id": dict(sorted(self.rekeyed.items())),
            "not_rekeyable_by_key_id": dict(sorted(self.foreign.items())),
        }


def stored_key_ids(sink: ClickHouseSink) -> dict[str, int]:
    """Incident reports with a pseudonym, by the key id that made it ("" before key ids)."""
    rows = sink.query_dicts(
        f"SELECT patient_key_id AS key_id, count() AS n FROM {sink.database}.{TABLE} FINAL "
        "WHERE patient_pseudonym != '' GROUP BY key_id ORDER BY key_id"
    )
    return {str(row["key_id"]): int(row["n"]) for row in rows}


def rekey(sink: ClickHouseSink, keys: PseudonymKeys, *, dry_run: bool = False) -> RekeyReport:
    """Bring every stored pseudonym under `keys` (the chain, current key last)."""
    report = RekeyReport(keys.key_id)
    query = (
        f"SELECT * FROM {sink.database}.{TABLE} FINAL "
        "WHERE patient_pseudonym != '' AND patient_key_id != {key_id:String} "
        "ORDER BY org_id, unit_id, event_id"
    )
    pending: list[dict[str, Any]] = []
    for row in sink.query_dicts(query, {"key_id": keys.key_id}):
        old = str(row["patient_pseudonym"])
        new = keys.rekey(str(row["org_id"]), old)
        if new is None:
            report.foreign[pseudonym_key_id(old)] += 1
            continue
        report.rekeyed[pseudonym_key_id(old)] += 1
        payload = json.loads(row["payload"])
        payload["patient_ref"] = new
        row |= {"patient_pseudonym": new, "payload": json.dumps(payload, ensure_ascii=False)}
        row.pop("patient_key_id", None)  # derived from the pseudonym by its DEFAULT
        row.pop("ingested_at", None)  # the new row is the newer: ReplacingMergeTree keeps it
        pending.append(row)
        if len(pending) >= BATCH_ROWS and not dry_run:
            sink.insert_rows(TABLE, pending, f"rekey|{keys.key_id}")
            pending = []
    if pending and not dry_run:
        sink.insert_rows(TABLE, pending, f"rekey|{keys.key_id}")
    if report.rekeyed and not dry_run:
        sink.command(f"OPTIMIZE TABLE {sink.database}.{TABLE} FINAL")
    return report
