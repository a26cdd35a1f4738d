"""Pytest plugin: a real single-node Apache Kafka broker for the tests that need one.

List it in the root conftest's ``pytest_plugins``. It provides:

- ``kafka_bootstrap`` (session): starts a broker with deploy/kafka/localkafka.py on a free
  127.0.0.1 port (never 9092, so a developer's own broker is left alone) in a temporary state
  directory, yields ``"127.0.0.1:PORT"`` and stops the broker when the session ends.
- every test marked ``@pytest.mark.kafka`` gets that broker, with ``PIPELINE_KAFKA_BOOTSTRAP``
  set to it for the test's duration, even when it does not ask for ``kafka_bootstrap``.
- ``kafka_sasl_ssl`` (session): the same broker's SASL_SSL listener (certificate made by
  keytool, SCRAM users made by ``kafka-storage format --add-scram``): a ``SecureKafka`` with its
  bootstrap address, the CA file clients trust and a user's name and password.
- ``localkafka`` (session): the localkafka module itself, for tests of its own behaviour.

When Java (or mvn, with no cached jars) is missing, those tests are skipped with the reason, or
fail when the ``CI`` environment variable is set: CI must never pass by skipping them.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

LOCALKAFKA_PATH = Path(__file__).resolve().parents[1] / "deploy" / "kafka" / "localkafka.py"


def load_localkafka() -> ModuleType:
    """Import deploy/kafka/localkafka.py (a script, not a package) as module ``localkafka``,
    once per interpreter, and return it."""
    if (module := sys.modules.get("localkafka")) is not None:
        return module
    spec = importlib.util.spec_from_file_location("localkafka", LOCALKAFKA_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["localkafka"] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class SecureKafka:
    """The session broker's SASL_SSL listener and one of its users."""

    bootstrap: str
    cafile: Path
    username: str
    password: str


SASL_USER = "pipeline"


@pytest.fixture(scope="session")
def localkafka() -> ModuleType:
    """The deploy/kafka/localkafka.py module."""
    return load_localkafka()


@pytest.fixture(scope="session", name="_session_broker")
def _broker(
    localkafka: ModuleType, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, dict[str, str]]]:
    """A broker for the whole session, with a PLAINTEXT and a SASL_SSL listener.
    Skips (fails under ``CI``) when the tools to run it are missing."""
    missing: list[str] = localkafka.missing_tools()
    if localkafka.tls.keytool() is None:
        missing.append("keytool")
    if missing:
        reason = f"the Kafka test broker needs {' and '.join(missing)}: not found on this machine"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set: Kafka tests must run there)")
        pytest.skip(reason)
    port = localkafka.free_port()
    secured = localkafka.free_port()
    while secured == port:
        secured = localkafka.free_port()
    users = {SASL_USER: secrets.token_urlsafe(18)}
    broker = localkafka.start(
        port, tmp_path_factory.mktemp("kafka"), sasl_ssl=localkafka.SaslSsl(secured, users)
    )
    try:
        yield broker, users
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(_session_broker: tuple[Any, dict[str, str]]) -> str:
    """The session broker's PLAINTEXT bootstrap address ``127.0.0.1:PORT``."""
    return str(_session_broker[0].bootstrap)


@pytest.fixture(scope="session")
def kafka_sasl_ssl(_session_broker: tuple[Any, dict[str, str]]) -> SecureKafka:
    """The session broker's SASL_SSL listener and its user."""
    broker, users = _session_broker
    return SecureKafka(broker.sasl_ssl_bootstrap, broker.cafile, SASL_USER, users[SASL_USER])


@pytest.fixture(autouse=True)
def _kafka_for_marked_tests(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Give tests marked ``kafka`` the session broker and PIPELINE_KAFKA_BOOTSTRAP."""
    if request.node.get_closest_marker("kafka") is not None:
        bootstrap: str = request.getfixturevalue("kafka_bootstrap")
        monkeypatch.setenv("PIPELINE_KAFKA_BOOTSTRAP", bootstrap)
