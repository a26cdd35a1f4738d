"""Kafka's bootstrap servers, parsed once from `host:port[,host:port...]`.

Settings, `--bootstrap` and the Publisher API take the text; the worker, the publisher and the
login check use each server's host and port, never the string split again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import urlsplit

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from pipeline.endpoints import parsed_from_text

DEFAULT_CONNECT_SECONDS = 10.0
"""How long a publisher waits to reach a broker (`pipeline publish --timeout`'s default); here,
not beside the producer, so the CLI can offer it without loading a Kafka client."""


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """One Kafka bootstrap server. `str()` is `host:port`, an IPv6 host in brackets."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class KafkaBootstrap:
    """Kafka's bootstrap servers, `host:port[,host:port...]` as Kafka's own clients take them
    (an IPv6 host in brackets, `[::1]:9092`); at least one, each with its port.

    Refused, with the reason and the entry's place: a URL (`kafka://host:9092`: the transport
    is a setting of its own), credentials (`user:password@host`: settings too), a path or
    query, a missing or invalid port, an IPv6 host without brackets, an empty entry.
    """

    # A plain class, not a dataclass: pydantic-settings would read a dataclass field's
    # environment variable as JSON.
    __slots__ = ("servers",)

    def __init__(self, servers: tuple[BrokerAddress, ...]) -> None:
        self.servers = servers

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KafkaBootstrap) and other.servers == self.servers

    def __hash__(self) -> int:
        return hash(self.servers)

    @classmethod
    def parse(cls, text: str) -> Self:
        """Parse `text`; ValueError saying what is wrong, and in which entry, if it is not a
        list of servers. The message never repeats the text (a secret typed in the wrong
        place must not reach a log)."""
        entries = text.split(",")
        servers = []
        for number, entry in enumerate(entries, 1):
            try:
                servers.append(_broker(entry.strip()))
            except ValueError as exc:
                where = f"entry {number} of {len(entries)}" if len(entries) > 1 else "it"
                raise ValueError(f"must be host:port[,host:port...]: {where} {exc}") from None
        return cls(tuple(servers))

    def __str__(self) -> str:
        return ",".join(str(server) for server in self.servers)

    def __repr__(self) -> str:
        return f"KafkaBootstrap({str(self)!r})"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return parsed_from_text(cls, cls.parse, "must be host:port[,host:port...]")


def _broker(entry: str) -> BrokerAddress:
    """One `host:port` of a bootstrap list (the list's separator, a comma, cannot occur in a
    host name or port, so splitting the list on it is its grammar). ValueError: what is wrong,
    without the text."""
    if not entry:
        raise ValueError("is empty")
    if "@" in entry:  # perhaps user:password@host
        raise ValueError(
            "carries credentials (user@host): set PIPELINE_KAFKA_SASL_USERNAME and "
            "PIPELINE_KAFKA_SASL_PASSWORD instead"
        )
    if "://" in entry:
        raise ValueError(
            "is a URL: give host:port; the transport is PIPELINE_KAFKA_SECURITY_PROTOCOL"
        )
    if entry.count(":") > 1 and not entry.startswith("["):
        raise ValueError("has an IPv6 host without brackets: write it [::1]:9092")
    try:
        parts = urlsplit(f"//{entry}")
        port = parts.port
    except ValueError:  # a port out of range or not a number, an unclosed bracket
        raise ValueError("is not host:port with a port from 1 to 65535") from None
    if (
        parts.path
        or parts.query
        or parts.fragment
        or not parts.hostname
        or any(character.isspace() for character in entry)
    ):
        raise ValueError("is not host:port")
    if port is None:
        raise ValueError("has no port: give host:port, e.g. kafka:9092")
    if port == 0:
        raise ValueError("has a port that is not a number from 1 to 65535")
    return BrokerAddress(parts.hostname, port)
