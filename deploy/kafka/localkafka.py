#!/usr/bin/env python3
"""A local single-node Apache Kafka 4.x broker (KRaft) without Docker, for developers and tests.

Usage: python deploy/kafka/localkafka.py up|down|status|fetch [--port N] [--state-dir DIR]
           [--sasl-ssl-port N --user NAME=PASSWORD ...]

The jars come from Maven Central through ``mvn`` (see pom.xml beside this file) and are cached
under ``<repo>/.cache/kafka/libs``. A state directory holds server.properties, the log4j2
configuration, the data (``data/``), ``broker.log`` and ``broker.pid``. With a SASL_SSL
listener (localkafka_tls.py) it also holds the broker's keystore and ``broker-ca.pem``, the
certificate clients trust. Standard library only.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import importlib.util
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

HERE = Path(__file__).resolve().parent


def _sibling(name: str) -> ModuleType:
    """Import ``HERE/<name>.py`` (this file is a script, often loaded by path, not a package)."""
    if (module := sys.modules.get(name)) is not None:
        return module
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


tls = _sibling("localkafka_tls")
jars = _sibling("localkafka_jars")
SaslSsl = tls.SaslSsl
KafkaError = jars.KafkaError
POM = jars.POM
fetch_jars = jars.fetch_jars
missing_tools = jars.missing_tools
_java = jars._java
CACHE_DIR = jars.CACHE_DIR
DEFAULT_STATE_DIR = CACHE_DIR / "dev"
DEFAULT_PORT = 9092
# A small heap and the quick (C1) compiler: tests run beside the broker on two cores.
JVM_OPTS = "-Xms128m -Xmx512m -XX:+UseG1GC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError"
LOG4J2 = """status = warn
shutdownHook = disable
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
"""


@dataclass
class Broker:
    """A running broker: ``process`` is set only when this Python process started it."""

    pid: int
    port: int
    state_dir: Path
    process: subprocess.Popen[bytes] | None = None
    reused: bool = False
    sasl_ssl_port: int | None = None

    @property
    def sasl_ssl_bootstrap(self) -> str | None:
        """``127.0.0.1:PORT`` of the SASL_SSL listener, when it has one."""
        return f"127.0.0.1:{self.sasl_ssl_port}" if self.sasl_ssl_port else None

    @property
    def cafile(self) -> Path:
        """The PEM certificate SASL_SSL clients must trust (exists with that listener only)."""
        return self.state_dir / tls.CA_PEM

    @property
    def bootstrap(self) -> str:
        """The bootstrap address for clients, ``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """The file that receives the broker's log4j output, stdout and stderr."""
        return self.state_dir / "broker.log"

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the broker as :func:`stop` does and reap it if this process started it."""
        stop(self.state_dir, timeout)
        if self.process is not None:
            self.process.wait(timeout)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free when asked (the OS's choice)."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return int(sock.getsockname()[1])


def _port_free(port: int) -> bool:
    try:  # create_server sets SO_REUSEADDR, as Java does: a port in TIME_WAIT counts as free
        socket.create_server(("127.0.0.1", port)).close()
    except OSError:
        return False
    return True


def _spawn(cmd: list[str], log: BinaryIO) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in a session of its own, its stdout and stderr appended to ``log``."""
    return subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
    )


def _alive(pid: int, state_dir: Path) -> bool:
    """Whether ``pid`` is a live broker of ``state_dir`` (reaping it first if it is our child)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    proc = Path(f"/proc/{pid}/cmdline")
    if proc.parent.parent.is_dir():  # Linux: also guards against a recycled pid
        with contextlib.suppress(OSError):
            return str(state_dir / "server.properties").encode() in proc.read_bytes()
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        pass
    return True


def running(state_dir: Path) -> Broker | None:
    """Return the live broker recorded in ``state_dir/broker.pid``, or None. A pid file whose
    process is gone (or is no longer this broker) is removed."""
    state_dir = state_dir.resolve()
    pid_file = state_dir / "broker.pid"
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        pid = 0  # no pid file, or garbage in it; 0 and below would mean process groups
    if pid <= 0 or not _alive(pid, state_dir):
        pid_file.unlink(missing_ok=True)
        return None
    props = state_dir / "server.properties"
    text = props.read_text() if props.exists() else ""
    found = re.search(r"\bPLAINTEXT://127\.0\.0\.1:(\d+)", text)
    secured = re.search(r"\bSASL_SSL://127\.0\.0\.1:(\d+)", text)
    return Broker(
        pid,
        int(found.group(1)) if found else 0,
        state_dir,
        reused=True,
        sasl_ssl_port=int(secured.group(1)) if secured else None,
    )


def _server_properties(
    port: int, controller_port: int, data: Path, sasl_ssl_port: int | None = None
) -> str:
    listeners = f"PLAINTEXT://127.0.0.1:{port}"
    protocols = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    if sasl_ssl_port is not None:
        listeners += f",SASL_SSL://127.0.0.1:{sasl_ssl_port}"
        protocols += ",SASL_SSL:SASL_SSL"
    return f"""process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
controller.listener.names=CONTROLLER
listeners={listeners},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners={listeners}
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map={protocols}
log.dirs={data}
num.partitions=3
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1
group.initial.rebalance.delay.ms=0
log.cleaner.dedupe.buffer.size=16777216
num.network.threads=2
num.io.threads=4
"""


def cluster_id() -> str:
    """A random KRaft cluster id: a UUID in URL-safe base64, never starting with "-" (which the
    storage tool would read as an option), as Kafka's own Uuid.randomUuid ensures."""
    found = "-"
    while found.startswith("-"):
        found = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    return found


def _tail(path: Path, lines: int = 40) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


def _answers(port: int) -> bool:
    """Whether a Metadata v1 request on ``port`` is answered with at least one live broker."""
    client = b"localkafka"
    request = struct.pack(">hhih", 3, 1, 7, len(client)) + client + struct.pack(">i", 0)
    reply = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2.0) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            while len(reply) < 12 and (chunk := sock.recv(12 - len(reply))):
                reply += chunk
    except OSError:
        return False
    if len(reply) < 12:
        return False
    correlation, brokers = struct.unpack(">ii", reply[4:])  # after the frame length
    return bool(correlation == 7 and brokers > 0)


def start(
    port: int = DEFAULT_PORT,
    state_dir: Path = DEFAULT_STATE_DIR,
    *,
    cache_dir: Path = CACHE_DIR,
    timeout: float = 90.0,
    sasl_ssl: Any = None,
) -> Broker:
    """Start a broker on 127.0.0.1:``port`` with its state in ``state_dir`` and return once it
    answers Metadata requests. A live broker of ``state_dir`` on the same port is returned
    as is (``reused`` True). ``sasl_ssl`` (a ``SaslSsl``) adds a SASL_SSL listener with a
    keytool-made certificate and those users (SCRAM users need a fresh ``state_dir``: they
    are written when the storage is formatted). Raises KafkaError if that broker uses another
    port, if the port is taken, if java or the jars are missing, or if the broker is not ready
    within ``timeout`` seconds (it is then killed; the message ends with the last 40 log lines)."""
    state_dir = state_dir.resolve()
    if (live := running(state_dir)) is not None:
        if live.port == port:
            return live
        raise KafkaError(
            f"the broker of {state_dir} already runs on port {live.port} "
            f"(pid {live.pid}); stop it first"
        )
    if not _port_free(port):
        raise KafkaError(f"port {port} on 127.0.0.1 is in use by another process")
    java = _java()
    if java is None:
        raise KafkaError("java is not installed (Kafka 4 needs Java 17 or later)")
    libs = fetch_jars(cache_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    props, log_path = state_dir / "server.properties", state_dir / "broker.log"
    controller_port = free_port()
    while controller_port == port:
        controller_port = free_port()
    secured = sasl_ssl.port if sasl_ssl is not None else None
    text = _server_properties(port, controller_port, state_dir / "data", secured)
    scram: list[str] = []
    if sasl_ssl is not None:
        try:
            keystore, password, _ = tls.make_certificate(state_dir)
        except tls.TlsError as exc:
            raise KafkaError(str(exc)) from exc
        text += tls.server_properties(sasl_ssl, keystore, password)
        scram = tls.scram_format_arguments(sasl_ssl)
    props.write_text(text)
    (state_dir / "log4j2.properties").write_text(LOG4J2)
    log4j = f"-Dlog4j2.configurationFile={state_dir / 'log4j2.properties'}"
    base = [java, *JVM_OPTS.split(), log4j, "-cp", f"{libs}/*"]
    if log_path.exists():
        log_path.replace(state_dir / "broker.log.1")
    with open(log_path, "ab") as log:
        if not (state_dir / "data" / "meta.properties").exists():
            fmt = [*base, "kafka.tools.StorageTool", "format", "-t", cluster_id(), "-c", str(props)]
            fmt += scram
            if _spawn(fmt, log).wait() != 0:
                raise KafkaError(f"formatting {state_dir / 'data'} failed:\n{_tail(log_path)}")
        process = _spawn([*base, "kafka.Kafka", str(props)], log)
    (state_dir / "broker.pid").write_text(f"{process.pid}\n")
    deadline = time.monotonic() + timeout
    try:
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                code = process.returncode
                why = f"exited with {code}" if code is not None else f"not ready in {timeout:.0f}s"
                raise KafkaError(f"Kafka broker {why}; end of {log_path}:\n{_tail(log_path)}")
            time.sleep(0.25)
    except BaseException:  # a timeout, a crash or Ctrl-C: leave no broker behind
        process.kill()
        process.wait()
        (state_dir / "broker.pid").unlink(missing_ok=True)
        raise
    return Broker(process.pid, port, state_dir, process, sasl_ssl_port=secured)


def stop(state_dir: Path = DEFAULT_STATE_DIR, timeout: float = 30.0) -> bool:
    """Stop the broker of ``state_dir``: SIGTERM, then SIGKILL after ``timeout`` seconds; remove
    its pid file. Returns whether a live broker was found."""
    state_dir = state_dir.resolve()
    live = running(state_dir)
    if live is None:
        return False
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(live.pid, sig)
        deadline = time.monotonic() + wait
        while _alive(live.pid, state_dir) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not _alive(live.pid, state_dir):
            break
    (state_dir / "broker.pid").unlink(missing_ok=True)
    return True


def main(argv: list[str] | None = None) -> int:
    """The command line: up, down, status and fetch; returns the exit status."""
    parser = argparse.ArgumentParser(description="A local single-node Kafka broker (KRaft).")
    parser.add_argument("command", choices=["up", "down", "status", "fetch"])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for up")
    parser.add_argument("--sasl-ssl-port", type=int, help="also a SASL_SSL listener on this port")
    parser.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="NAME=PASSWORD",
        help="a SASL user of that listener (PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512)",
    )
    args = parser.parse_args(argv)
    users = dict(user.split("=", 1) for user in args.user)
    sasl_ssl = SaslSsl(args.sasl_ssl_port, users) if args.sasl_ssl_port else None
    try:
        if args.command == "fetch":
            print(f"Kafka jars in {fetch_jars()}")
        elif args.command == "up":
            began = time.monotonic()
            broker = start(args.port, args.state_dir, timeout=args.timeout, sasl_ssl=sasl_ssl)
            how = (
                "already running" if broker.reused else f"ready in {time.monotonic() - began:.1f}s"
            )
            print(f"Kafka {how} at {broker.bootstrap} (pid {broker.pid}, log {broker.log_path})")
            if broker.sasl_ssl_bootstrap:
                print(f"SASL_SSL at {broker.sasl_ssl_bootstrap}, CA file {broker.cafile}")
        elif args.command == "down":
            print("Kafka stopped" if stop(args.state_dir) else "Kafka was not running")
        elif (live := running(args.state_dir)) is not None:
            print(f"Kafka running at {live.bootstrap} (pid {live.pid}, log {live.log_path})")
        else:
            print("Kafka not running")
            return 1
    except KafkaError as exc:
        print(f"localkafka: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
