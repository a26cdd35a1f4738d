"""A digest of what `pipeline replay` stores: to show that a change to the replay's store side
leaves the stored rows exactly as they were (run on both trees, compare the digests).

The file is replayed, as `pipeline replay` does, into a fresh chDB database with a fixed clock
and a fixed pseudonymisation key; then every table is read with `FINAL` (the rows a reader
sees), each row as text, sorted, and hashed per table. Columns filled by ClickHouse with the
insert's wall-clock time (`DEFAULT now64()`) are left out; everything else, the alerts, their
history and the judgement marks included, counts. Printed: one line per table (rows, digest)
and the digest of them all.

Run: `python -m bench.replay_digest FILE`.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr

from pipeline.adapters.clickhouse import ClickHouseSink
from pipeline.bootstrap.embedded import build_embedded, load_settings

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
KEY = "replay-digest-fixed-key-0f3c9a7e51b2d84c"


def table_digests(sink: ClickHouseSink) -> dict[str, tuple[int, str]]:
    """Each table's row count and the sha256 of its rows (read with FINAL where the engine
    replaces rows), as sorted text, without the columns ClickHouse stamps with the time."""
    db = {"db": sink.database}
    tables = sink.query_dicts(
        "SELECT name, engine FROM system.tables WHERE database = {db:String} "
        "AND engine NOT LIKE '%View%' ORDER BY name",
        db,
    )
    digests: dict[str, tuple[int, str]] = {}
    for table in tables:
        name, engine = str(table["name"]), str(table["engine"])
        columns = [
            str(row["name"])
            for row in sink.query_dicts(
                "SELECT name, default_expression FROM system.columns WHERE database = "
                "{db:String} AND table = {table:String} ORDER BY position",
                {**db, "table": name},
            )
            if "now" not in str(row["default_expression"])
        ]
        final = " FINAL" if "Replacing" in engine or "Collapsing" in engine else ""
        listed = ", ".join(f"toString(`{c}`)" for c in columns)
        rows = sink.query_dicts(
            f"SELECT arrayStringConcat([{listed}], '\\t') AS row "
            f"FROM {sink.database}.`{name}`{final}"
        )
        lines = sorted(str(r["row"]) for r in rows)
        digests[name] = (len(lines), hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16])
    return digests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    args = parser.parse_args()
    settings = load_settings().model_copy(update={"pseudonymisation_key": SecretStr(KEY)})
    scratch = Path(tempfile.mkdtemp(prefix="bench-replay-digest-"))
    try:
        runner, sink = build_embedded(settings, dsn=f"chdb://{scratch}")
        runner.step._clock = lambda: NOW  # received_at and judged_at as every run has them
        summary = runner.run([str(args.file)])
        digests = table_digests(sink)
        sink.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    whole = hashlib.sha256()
    for name, (rows, digest) in digests.items():
        print(f"{name:<28}{rows:>9} {digest}")
        whole.update(f"{name}:{rows}:{digest}\n".encode())
    print(f"summary {summary.as_json()}")
    print(f"all {whole.hexdigest()[:16]}")


if __name__ == "__main__":
    main()
