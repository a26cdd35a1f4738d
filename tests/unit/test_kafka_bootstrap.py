"""Kafka's bootstrap servers are parsed once (settings, `--bootstrap`, the Publisher API) and
used by their parts: no client splits the text itself."""

from __future__ import annotations

import argparse
import socket
from collections.abc import Iterator

import pytest

from pipeline.adapters.publisher import _reach_any
from pipeline.cli.publish import add_publish_arguments
from pipeline.errors import ConfigError, TransportError
from pipeline.kafka_bootstrap import BrokerAddress, KafkaBootstrap
from pipeline.publishing import Publisher
from pipeline.settings import Settings, load_settings


@pytest.mark.parametrize(
    ("text", "servers"),
    [
        ("localhost:9092", [("localhost", 9092)]),
        (" kafka-1:19092 , kafka-2:19093 ", [("kafka-1", 19092), ("kafka-2", 19093)]),
        ("[::1]:9092", [("::1", 9092)]),
        ("[fe80::1]:19092,10.0.0.7:9094", [("fe80::1", 19092), ("10.0.0.7", 9094)]),
    ],
)
def test_servers_are_parsed_into_host_and_port(text: str, servers: list[tuple[str, int]]) -> None:
    parsed = KafkaBootstrap.parse(text)
    assert [(s.host, s.port) for s in parsed.servers] == servers
    assert KafkaBootstrap.parse(str(parsed)) == parsed  # str() is the canonical text


def test_an_ipv6_host_is_written_back_in_brackets() -> None:
    assert str(BrokerAddress("::1", 9092)) == "[::1]:9092"
    assert str(KafkaBootstrap.parse("[::1]:9092,b:1")) == "[::1]:9092,b:1"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("kafka", "it has no port"),
        ("kafka:", "it has no port"),
        ("kafka:0", "not a number from 1 to 65535"),
        ("kafka:70000", "a port from 1 to 65535"),
        ("kafka:ninety", "a port from 1 to 65535"),
        ("[::1:9092", "a port from 1 to 65535"),
        ("::1:9092", "IPv6 host without brackets"),
        ("kafka://broker:9092", "it is a URL"),
        ("broker:9092/topic", "it is not host:port"),
        ("bro ker:9092", "it is not host:port"),
        ("a:1,,b:2", "entry 2 of 3 is empty"),
        ("a:1,", "entry 2 of 2 is empty"),
        ("", "it is empty"),
    ],
)
def test_what_is_not_a_server_list_is_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        KafkaBootstrap.parse(text)


def test_refusals_never_repeat_the_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials are settings of their own; a secret typed in the wrong place stays out of
    the message (which may reach a log)."""
    for text in ("pipeline:Zx9-secret@broker:9092", "Zx9-secret", "broker:9092,Zx9-secret"):
        monkeypatch.setenv("PIPELINE_KAFKA_BOOTSTRAP", text)
        with pytest.raises(ConfigError) as raised:
            load_settings()
        assert "PIPELINE_KAFKA_BOOTSTRAP" in str(raised.value)
        assert "Zx9-secret" not in str(raised.value)
    with pytest.raises(ValueError, match="PIPELINE_KAFKA_SASL_USERNAME"):
        KafkaBootstrap.parse("u:Zx9-secret@broker:9092")


def test_settings_hold_the_parsed_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().kafka_bootstrap.servers == (BrokerAddress("localhost", 9092),)
    monkeypatch.setenv("PIPELINE_KAFKA_BOOTSTRAP", "kafka-1:19092, [::1]:9093")
    settings = load_settings()
    assert settings.kafka_bootstrap.servers == (
        BrokerAddress("kafka-1", 19092),
        BrokerAddress("::1", 9093),
    )
    assert settings.model_dump(mode="json")["kafka_bootstrap"] == "kafka-1:19092,[::1]:9093"


def test_the_publish_command_refuses_a_bad_bootstrap_as_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = argparse.ArgumentParser(prog="pipeline publish")
    add_publish_arguments(parser)
    assert parser.parse_args(["--bootstrap", "[::1]:9092", "x.jsonl"]).bootstrap == (
        KafkaBootstrap((BrokerAddress("::1", 9092),))
    )
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["--bootstrap", "kafka://broker:9092", "x.jsonl"])
    assert exited.value.code == 2
    assert "--bootstrap: must be host:port" in capsys.readouterr().err


def test_the_publisher_api_refuses_a_bad_bootstrap_before_connecting() -> None:
    with pytest.raises(ConfigError, match=r"bootstrap must be host:port.*has no port"):
        Publisher(Settings(), bootstrap="broker")


@pytest.fixture
def listening() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server


def test_reaching_a_broker_uses_each_servers_host_and_port(listening: socket.socket) -> None:
    port = int(listening.getsockname()[1])
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = int(closed.getsockname()[1])
        servers = KafkaBootstrap.parse(f"127.0.0.1:{dead},127.0.0.1:{port}").servers

        def failure(exc: Exception) -> TransportError:
            return TransportError(str(exc))

        _reach_any(servers, 5.0, failure)  # the second answers
        with pytest.raises(TransportError):
            _reach_any(servers[:1], 1.0, failure)
