"""What a replay imports: pandas is spared (pyarrow would import it for nothing the sink uses),
and the CLI loads no Kafka client before a command needs one (kafka-python alone: 0.12 s of a
replay's CPU)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

_REPLAY_IN_A_NEW_PROCESS = """
import json, sys
from pathlib import Path
from pipeline.bootstrap.embedded import build_embedded, load_settings
from pipeline.simulation import SimulationConfig, simulate_trust

folder = Path(sys.argv[1])
trust = simulate_trust(SimulationConfig(orgs=2, units_per_org=2, weeks=30, seed=5))
events = folder / "events.jsonl"
events.write_text("".join(json.dumps(event) + "\\n" for event in trust.events))
runner, sink = build_embedded(load_settings(), dsn=f"chdb://{folder / 'ch'}")
try:
    summary = runner.run([str(events)])
finally:
    sink.close()
print(summary.accepted, "pandas" in sys.modules)
"""


def test_a_replay_into_chdb_does_not_import_pandas(tmp_path: Path) -> None:
    # pyarrow imports pandas (0.25 s of a fresh process's CPU, holding the GIL beside the
    # engine) on its first list conversion, on a bare number's type inference and with
    # `pyarrow.acero`; the sink needs none of it (pipeline/adapters/clickhouse/arrow.py)
    if importlib.util.find_spec("pandas") is None:
        pytest.skip("pandas is not installed: nothing to spare")
    run = subprocess.run(
        [sys.executable, "-c", _REPLAY_IN_A_NEW_PROCESS, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    accepted, pandas_imported = run.stdout.split()[-2:]
    assert int(accepted) > 100  # enough rows for the partition split's arithmetic
    assert pandas_imported == "False"


_CLI_KAFKA_CLIENTS = """
import sys
import pipeline.cli.main
print(sorted(m for m in sys.modules if m.partition(".")[0] in {"kafka", "aiokafka", "faust"}))
"""


def test_the_cli_loads_no_kafka_client_until_a_command_needs_one() -> None:
    run = subprocess.run(
        [sys.executable, "-c", _CLI_KAFKA_CLIENTS],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert run.stdout.strip() == "[]"
