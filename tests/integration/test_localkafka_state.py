"""localkafka's pid-file, port and jar-cache handling, with no Java and no broker."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

LINUX_PROC = pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")


@pytest.fixture(autouse=True)
def _no_java(localkafka: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests must never start a real JVM, whatever goes wrong in them."""

    def refuse(cmd: list[str], log: object) -> None:
        raise AssertionError(f"a unit test tried to start {cmd[-2:]}")

    monkeypatch.setattr(localkafka, "_spawn", refuse)


def _fake_broker(state_dir: Path, *, ignore_sigterm: bool = False) -> subprocess.Popen[bytes]:
    """A sleeping process that looks like the broker of ``state_dir`` on port 19999 (its
    command line names state_dir/server.properties), recorded in state_dir/broker.pid."""
    props = state_dir / "server.properties"
    props.write_text("listeners=PLAINTEXT://127.0.0.1:19999,CONTROLLER://127.0.0.1:19998\n")
    on_term = "SIG_IGN" if ignore_sigterm else "SIG_DFL"
    code = f"""import signal, time
signal.signal(signal.SIGTERM, signal.{on_term})
print("ready", flush=True)
time.sleep(120)
"""
    process = subprocess.Popen([sys.executable, "-c", code, str(props)], stdout=subprocess.PIPE)
    assert process.stdout is not None
    assert process.stdout.readline() == b"ready\n"
    (state_dir / "broker.pid").write_text(f"{process.pid}\n")
    return process


@pytest.fixture
def fake_broker(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A fake broker of ``tmp_path`` (see _fake_broker), killed after the test."""
    with _fake_broker(tmp_path) as process:
        yield process
        process.kill()


def test_dead_pid_file_is_cleaned(localkafka: ModuleType, tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (tmp_path / "broker.pid").write_text(f"{gone.pid}\n")
    assert localkafka.running(tmp_path) is None
    assert not (tmp_path / "broker.pid").exists()
    assert localkafka.stop(tmp_path) is False


@pytest.mark.parametrize("content", ["not a pid\n", "0\n", "-1\n", ""])
def test_garbage_pid_file_is_cleaned(localkafka: ModuleType, tmp_path: Path, content: str) -> None:
    (tmp_path / "broker.pid").write_text(content)
    assert localkafka.running(tmp_path) is None
    assert not (tmp_path / "broker.pid").exists()
    assert localkafka.stop(tmp_path) is False


@LINUX_PROC
def test_recycled_pid_of_another_program_is_not_a_broker(
    localkafka: ModuleType, tmp_path: Path
) -> None:
    (tmp_path / "broker.pid").write_text(f"{os.getpid()}\n")
    assert localkafka.running(tmp_path) is None
    assert not (tmp_path / "broker.pid").exists()


@LINUX_PROC
def test_live_broker_on_same_port_is_reused(
    localkafka: ModuleType, tmp_path: Path, fake_broker: subprocess.Popen[bytes]
) -> None:
    broker = localkafka.start(19999, tmp_path)
    assert broker.reused
    assert (broker.pid, broker.bootstrap) == (fake_broker.pid, "127.0.0.1:19999")
    assert fake_broker.poll() is None


@LINUX_PROC
def test_live_broker_on_another_port_is_an_error(
    localkafka: ModuleType, tmp_path: Path, fake_broker: subprocess.Popen[bytes]
) -> None:
    with pytest.raises(localkafka.KafkaError, match="already runs on port 19999"):
        localkafka.start(19997, tmp_path)
    assert fake_broker.poll() is None


@LINUX_PROC
def test_stop_terminates_and_removes_pid_file(
    localkafka: ModuleType, tmp_path: Path, fake_broker: subprocess.Popen[bytes]
) -> None:
    assert localkafka.stop(tmp_path, timeout=10) is True
    assert fake_broker.wait(timeout=5) is not None
    assert not (tmp_path / "broker.pid").exists()
    assert localkafka.running(tmp_path) is None


@LINUX_PROC
def test_stop_kills_a_broker_that_ignores_sigterm(localkafka: ModuleType, tmp_path: Path) -> None:
    with _fake_broker(tmp_path, ignore_sigterm=True) as process:
        assert localkafka.stop(tmp_path, timeout=0.5) is True
        # SIGTERM is ignored, so the broker is gone only because stop() went on to SIGKILL
        # (a zombie until reaped here, hence wait rather than /proc).
        process.wait(timeout=5)
        assert not (tmp_path / "broker.pid").exists()


def test_port_taken_by_another_process_is_a_clear_error(
    localkafka: ModuleType, tmp_path: Path
) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(localkafka.KafkaError, match=f"port {port} .* in use"):
            localkafka.start(port, tmp_path / "state")
    assert not (tmp_path / "state").exists()


def test_free_port_is_bindable(localkafka: ModuleType) -> None:
    port = localkafka.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def _write_cache(cache: Path, pom_sha256: str) -> None:
    """A one-jar cache whose stamp records ``pom_sha256``."""
    (cache / "libs").mkdir(parents=True)
    (cache / "libs" / "kafka-clients.jar").write_bytes(b"PK")
    stamp = {"pom_sha256": pom_sha256, "jars": ["kafka-clients.jar"]}
    (cache / "libs.stamp").write_text(json.dumps(stamp))


def _pom_sha256(localkafka: ModuleType) -> str:
    return hashlib.sha256(localkafka.POM.read_bytes()).hexdigest()


def test_complete_cache_needs_no_mvn(
    localkafka: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_cache(tmp_path, _pom_sha256(localkafka))
    monkeypatch.setenv("PATH", "")
    assert localkafka.fetch_jars(tmp_path) == tmp_path / "libs"
    assert "mvn" not in localkafka.missing_tools(tmp_path)


def test_cache_of_another_pom_needs_mvn(
    localkafka: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_cache(tmp_path, "hash-of-another-pom")
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    assert localkafka.missing_tools(tmp_path) == ["java", "mvn"]
    with pytest.raises(localkafka.KafkaError, match="mvn is not installed"):
        localkafka.fetch_jars(tmp_path)


def test_cache_missing_a_jar_needs_mvn(
    localkafka: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_cache(tmp_path, _pom_sha256(localkafka))
    (tmp_path / "libs" / "kafka-clients.jar").unlink()
    monkeypatch.setenv("PATH", "")
    assert "mvn" in localkafka.missing_tools(tmp_path)


def test_cluster_ids_are_uuids_that_never_look_like_options(localkafka: ModuleType) -> None:
    ids = {localkafka.cluster_id() for _ in range(2000)}  # about 31 would start with "-"
    assert len(ids) == 2000
    assert not any(i.startswith("-") for i in ids)
    assert all(len(base64.urlsafe_b64decode(i + "==")) == 16 for i in ids)
