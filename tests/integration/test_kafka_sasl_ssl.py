"""Kafka over SASL_SSL, for real: the session broker's listener has a keytool-made certificate
and SCRAM users created by `kafka-storage format --add-scram` (tests/kafka_fixture.py).

`pipeline publish` (kafka-python) and `pipeline worker` (faust over aiokafka) work through it
with SCRAM-SHA-512 (and the publisher with PLAIN), and fail at once with a clear message, a
non-zero exit and no secret in their output when the password is wrong or the certificate is
not trusted.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.kafka_fixture import SecureKafka
from tests.support.worker_harness import (
    REPO,
    pipeline_command,
    start_worker,
    stats,
    unique,
)

pytestmark = pytest.mark.kafka


def _events(count: int) -> list[dict[str, object]]:
    return [
        {
            "schema_version": 1,
            "event_type": "patient_feedback",
            "event_id": str(uuid.uuid4()),
            "org_id": "RXA",
            "unit_id": f"ward-{i % 3}",
            "occurred_at": f"2024-03-0{1 + i % 7}T10:00:00Z",
            "source": "fft-kiosk",
            "rating": 1 + i % 5,
        }
        for i in range(count)
    ]


def _write(path: Path, events: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def _env(
    kafka: SecureKafka, prefix: str, *, password: str | None = None, **overrides: str
) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
    return {
        **inherited,
        "PIPELINE_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "PIPELINE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "PIPELINE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "PIPELINE_KAFKA_SASL_USERNAME": kafka.username,
        "PIPELINE_KAFKA_SASL_PASSWORD": kafka.password if password is None else password,
        "PIPELINE_KAFKA_SSL_CAFILE": str(kafka.cafile),
        "PIPELINE_TOPIC_PREFIX": prefix,
        "PIPELINE_TOPIC_PARTITIONS": "4",
        **overrides,
    }


def _publish(
    path: Path, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*pipeline_command(), "publish", str(path), "--timeout", "20"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=timeout,
        check=False,
    )


def _run_worker(
    env: dict[str, str], tmp_path: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    """`pipeline worker` run to its end (these tests expect it to stop at start-up)."""
    return subprocess.run(
        [*pipeline_command(), "worker", "--metrics-port", "0"],
        capture_output=True,
        text=True,
        env={
            **env,
            "PIPELINE_PSEUDONYMISATION_KEY": "7c1e9b04d3a28f65e0b7c4d19a2f38e6",
            "PIPELINE_CLICKHOUSE_DSN": f"chdb://{tmp_path / 'ch'}",
        },
        cwd=tmp_path,
        timeout=timeout,
        check=False,
    )


def test_publish_and_worker_work_through_sasl_ssl_with_scram(
    kafka_sasl_ssl: SecureKafka, tmp_path: Path
) -> None:
    prefix, group = unique("sasl"), unique("sasl-group")
    events = _events(12)
    env = _env(kafka_sasl_ssl, prefix)
    published = _publish(_write(tmp_path / "events.jsonl", events), env)
    assert published.returncode == 0, published.stderr
    assert "12 published" in published.stdout
    assert kafka_sasl_ssl.password not in published.stdout + published.stderr

    dsn = f"chdb://{tmp_path / 'ch'}"
    security = {k: v for k, v in env.items() if k.startswith("PIPELINE_KAFKA_")}
    worker = start_worker(kafka_sasl_ssl.bootstrap, dsn, prefix, group, tmp_path, security)
    try:
        worker.wait_for(
            lambda m: m.get("pipeline_messages_consumed_total", 0) >= len(events),
            90,
            "every event consumed over SASL_SSL",
        )
    finally:
        code = worker.stop()
    log = worker.log(tail=100_000)
    assert code == 0, log
    assert "over SASL_SSL (SCRAM-SHA-512 as pipeline)" in log
    assert kafka_sasl_ssl.password not in log
    assert stats(dsn)["events"]["patient_feedback"] == len(events)


def test_publish_with_plain_mechanism(kafka_sasl_ssl: SecureKafka, tmp_path: Path) -> None:
    env = _env(kafka_sasl_ssl, unique("plain"), PIPELINE_KAFKA_SASL_MECHANISM="PLAIN")
    published = _publish(_write(tmp_path / "events.jsonl", _events(3)), env)
    assert published.returncode == 0, published.stderr
    assert "3 published" in published.stdout


def test_a_wrong_password_fails_clearly_and_at_once(
    kafka_sasl_ssl: SecureKafka, tmp_path: Path
) -> None:
    wrong = "not-the-password-" + uuid.uuid4().hex[:8]
    env = _env(kafka_sasl_ssl, unique("wrong"), password=wrong)
    began = time.monotonic()
    published = _publish(_write(tmp_path / "events.jsonl", _events(2)), env)
    took = time.monotonic() - began
    output = published.stdout + published.stderr
    assert published.returncode == 1, output
    assert "refused the login of 'pipeline' (SCRAM-SHA-512)" in published.stderr
    assert "PIPELINE_KAFKA_SASL_PASSWORD" in published.stderr
    assert wrong not in output and kafka_sasl_ssl.password not in output
    assert took < 40, f"publish took {took:.1f}s to give up"

    worker = _run_worker(env, tmp_path, timeout=90)
    output = worker.stdout + worker.stderr
    assert worker.returncode == 1, output[-3000:]
    assert "pipeline worker: Kafka at" in worker.stderr
    assert "refused the login of 'pipeline'" in worker.stderr
    assert wrong not in output and kafka_sasl_ssl.password not in output


def test_an_untrusted_certificate_is_refused(kafka_sasl_ssl: SecureKafka, tmp_path: Path) -> None:
    env = _env(kafka_sasl_ssl, unique("untrusted"))
    del env["PIPELINE_KAFKA_SSL_CAFILE"]  # the system's CAs do not know the broker's
    published = _publish(_write(tmp_path / "events.jsonl", _events(1)), env)
    assert published.returncode == 1
    assert "is not trusted" in published.stderr
    assert "PIPELINE_KAFKA_SSL_CAFILE" in published.stderr


def test_tls_without_the_login_the_listener_wants_is_named_in_one_line(
    kafka_sasl_ssl: SecureKafka, tmp_path: Path
) -> None:
    """SSL against a SASL_SSL listener: TLS and the version probe succeed, then the broker
    closes the connection; the worker used to pass its check and end in faust's traceback
    (found by the black-box check)."""
    env = _env(kafka_sasl_ssl, unique("nologin"), PIPELINE_KAFKA_SECURITY_PROTOCOL="SSL")
    worker = _run_worker(env, tmp_path, timeout=120)
    assert worker.returncode == 1, worker.stderr[-3000:]
    assert worker.stderr.startswith(f"pipeline worker: Kafka at {kafka_sasl_ssl.bootstrap}")
    assert "took the connection over SSL but did not answer a request" in worker.stderr
    assert "PIPELINE_KAFKA_SECURITY_PROTOCOL" in worker.stderr
    assert "Traceback" not in worker.stderr
