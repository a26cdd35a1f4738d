"""An embedded database another process runs (a worker, say) is named as such when a command
opens it, instead of chDB's `Error initializing EmbeddedServer: .` (found by the black-box
check: `pipeline stats` beside a running worker), in that one line only: chDB's own raw
`Code: 76 ... Cannot lock file` line is not printed before it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PIPELINE = [sys.executable, "-m", "pipeline.cli"]

HOLD = """
import sys, time
from chdb import session
held = session.Session(sys.argv[1])
held.query("SELECT 1")
print("held", flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("command", ["stats", "report"])
def test_an_embedded_database_another_process_runs_is_named_in_one_line(
    tmp_path: Path, command: str
) -> None:
    store = tmp_path / "store"
    hold = [sys.executable, "-c", HOLD, str(store)]
    with subprocess.Popen(hold, stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
            done = subprocess.run(
                [*PIPELINE, command, "--clickhouse", f"chdb://{store}"],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        finally:
            holder.kill()
    assert done.returncode == 1, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(
        f"pipeline {command}: the embedded database at {store} is in use by another process"
    )
    assert done.stdout == ""
