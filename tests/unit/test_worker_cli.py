"""`pipeline worker`: refuses to start without the pseudonymisation key; partitioning rule."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline.cli.worker import add_worker_arguments, run_worker
from pipeline.errors import ConfigError
from pipeline.runtime.worker import input_topics
from pipeline.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def test_the_worker_refuses_to_start_without_the_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env file here
    monkeypatch.delenv("PIPELINE_PSEUDONYMISATION_KEY", raising=False)
    monkeypatch.setenv("PIPELINE_CLICKHOUSE_DSN", f"chdb://{tmp_path / 'never-opened'}")
    parser = argparse.ArgumentParser()
    add_worker_arguments(parser)
    with pytest.raises(ConfigError, match="PIPELINE_PSEUDONYMISATION_KEY"):
        run_worker(parser.parse_args([]))
    assert not (tmp_path / "never-opened").exists(), "nothing opened before the check"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("sink_retry_max_seconds", float("inf")),
        ("sink_retry_max_seconds", 1e300),
        ("worker_max_poll_interval_seconds", float("inf")),
        ("worker_max_poll_interval_seconds", 2**31 / 1000),
    ],
)
def test_unbounded_pauses_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: float
) -> None:
    # Both passed before: an endless pause between retries, a poll interval Kafka cannot carry.
    monkeypatch.setenv(f"PIPELINE_{name.upper()}", str(value))
    with pytest.raises(ValidationError, match=name):
        Settings()


def test_input_topics_are_one_per_event_type() -> None:
    settings = Settings(topic_prefix="t1")
    assert input_topics(settings) == [
        "t1.incident_report",
        "t1.target_metric",
        "t1.patient_feedback",
        "t1.alert_response",
    ]


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_a_metrics_port_that_is_no_port_is_a_usage_error(
    port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was an OverflowError traceback once the worker had started (black-box check)."""
    parser = argparse.ArgumentParser(prog="pipeline worker")
    add_worker_arguments(parser)
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["--metrics-port", port])
    assert exited.value.code == 2
    assert f"{port} is not a port (0 to 65535)" in capsys.readouterr().err
