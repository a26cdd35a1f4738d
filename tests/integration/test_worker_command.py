"""`pipeline worker` as a process: it refuses to start without the pseudonymisation key, or
with no Kafka to reach, in one line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_command_exits_non_zero_with_a_clear_message(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "worker"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "PIPELINE_PSEUDONYMISATION_KEY is not set" in done.stderr


def test_an_unreachable_broker_is_named_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
    env |= {
        "PYTHONPATH": str(REPO),
        "PIPELINE_PSEUDONYMISATION_KEY": "a long random secret for this test only: 7f3c9e1b",
        "PIPELINE_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
        "PIPELINE_CLICKHOUSE_DSN": f"chdb://{tmp_path / 'store'}",
    }
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "worker", "--metrics-port", "0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert f"cannot reach Kafka at 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr
