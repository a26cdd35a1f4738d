"""Where the pipeline connects to: DSNs and URLs parsed once (urllib.parse), shown only masked
(Kafka's bootstrap servers: `pipeline.kafka_bootstrap`).

A `ClickHouseDsn` or `HttpEndpoint` is made from its text once, when settings
or a command line are read; everything after uses its parts. Their `str()` and `repr()` are the
masked form (`http://pipeline:***@clickhouse:8123/quality?password=***`): a password, whether in
the user part or in a query parameter, and every query value, are never shown. Passwords may
hold any character, `@` included (the last `@` of the authority separates it from the host),
or be percent-encoded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

from pydantic import GetCoreSchemaHandler, SecretStr
from pydantic_core import core_schema

MASK = "***"
# Query parameters that would change how the connection is secured: TLS is decided by the
# scheme (https = TLS with certificate verification) and the CA file setting, nothing else.
_TLS_OPTIONS = frozenset(
    {
        "secure",
        "verify",
        "ca_cert",
        "client_cert",
        "client_cert_key",
        "interface",
        "tls_mode",
        "server_host_name",
        "https_proxy",
    }
)
_CREDENTIAL_OPTIONS = frozenset({"user", "username", "user_name", "password"})


def mask_url(text: str) -> str:
    """`text` as a URL with its password and every query value replaced by ***.

    Text that is not a URL at all comes back as `***` (it may be a secret typed in the wrong
    place); a URL's scheme, user name, host, port and path are kept.
    """
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        return MASK
    if not parts.scheme or not (parts.netloc or parts.path):
        return MASK
    return _unsplit(
        parts.scheme,
        parts.username,
        parts.password is not None,
        parts.hostname,
        port,
        parts.path,
        [k for k, _ in parse_qsl(parts.query, keep_blank_values=True)],
    )


def _unsplit(
    scheme: str,
    username: str | None,
    has_password: bool,
    host: str | None,
    port: int | None,
    path: str,
    query_keys: list[str],
) -> str:
    netloc = ""
    if host is not None:
        netloc = f"[{host}]" if ":" in host else host
        if port is not None:
            netloc += f":{port}"
        if username is not None or has_password:
            user = quote(unquote(username or ""), safe="")
            netloc = f"{user}:{MASK}@{netloc}" if has_password else f"{user}@{netloc}"
    query = "&".join(f"{quote(k, safe='')}={MASK}" for k in query_keys)
    return urlunsplit((scheme, netloc, path, query, ""))


def parsed_from_text(
    kind: type, parse: Callable[[str], Any], expected: str
) -> core_schema.CoreSchema:
    """A pydantic schema for a `kind` made from text by `parse`: an instance passes as it is,
    text is parsed, anything else is refused with `expected`; serialised as its `str()`."""

    def validate(value: Any) -> Any:
        if isinstance(value, kind):
            return value
        if not isinstance(value, str):
            raise ValueError(expected)
        return parse(value)

    return core_schema.no_info_plain_validator_function(
        validate, serialization=core_schema.to_string_ser_schema()
    )


@dataclass(frozen=True, slots=True)
class ClickHouseDsn:
    """A parsed ClickHouse DSN: `chdb:///path` (embedded) or `http(s)://[user[:password]@]host[:port][/database][?options]`.

    `https` means TLS with certificate verification (against the system's CAs, or the CA file
    setting). Query parameters `user`/`password` are credentials like the user part; options
    that would change TLS (`secure`, `verify`, `ca_cert`, …) are refused; the rest are passed
    to the driver as it understands them.
    """

    scheme: str
    host: str = ""
    port: int | None = None
    username: str = ""
    password: SecretStr | None = field(default=None, compare=False)
    database: str = ""
    path: str = ""
    options: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    masked: str = field(default="", compare=False)

    @classmethod
    def parse(cls, text: str) -> Self:
        """Parse `text`; ValueError (whose message never holds the password) if it is not one."""
        try:
            parts = urlsplit(text.strip())
            port = parts.port
        except ValueError:
            raise ValueError("is not a valid URL (chdb:///path or http(s)://host:port)") from None
        scheme = parts.scheme.lower()
        masked = mask_url(text)
        if scheme == "chdb":
            if parts.password is not None or parts.query:
                raise ValueError(f"a chdb:// DSN takes a path only, not {masked}")
            location = unquote(parts.netloc + parts.path)
            if not location:
                raise ValueError("a chdb:// DSN needs a path, e.g. chdb:///var/lib/pipeline")
            return cls(scheme=scheme, path=location, masked=f"chdb://{quote(location)}")
        if scheme not in ("http", "https"):
            raise ValueError(f"must start with chdb://, http:// or https:// (got {masked})")
        if not parts.hostname:
            raise ValueError(f"has no host: {masked}")
        username = unquote(parts.username or "")
        password = None if parts.password is None else unquote(parts.password)
        options = []
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            name = key.lower()
            if name in _TLS_OPTIONS:
                raise ValueError(
                    f"option {key!r} is not allowed in the DSN: TLS is chosen by the scheme "
                    "(https:// verifies the server's certificate) and PIPELINE_CLICKHOUSE_CA_FILE"
                )
            if name == "password":
                password = value
            elif name in _CREDENTIAL_OPTIONS:
                username = value
            elif name == "database":
                options.append(("database", value))
            else:
                options.append((key, value))
        database = unquote(parts.path.strip("/").split("/")[0]) if parts.path else ""
        return cls(
            scheme=scheme,
            host=parts.hostname,
            port=port,
            username=username,
            password=None if password is None else SecretStr(password),
            database=database or dict(options).get("database", ""),
            options=tuple((k, v) for k, v in options if k != "database"),
            masked=masked,
        )

    @property
    def embedded(self) -> bool:
        return self.scheme == "chdb"

    @property
    def secure(self) -> bool:
        return self.scheme == "https"

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"ClickHouseDsn({self.masked!r})"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return parsed_from_text(cls, cls.parse, "must be a DSN string")


@dataclass(frozen=True, slots=True)
class HttpEndpoint:
    """A parsed http(s) base URL without credentials (those are settings of their own).

    A URL with `user:password@` is refused: credentials in a URL end up in logs and, with
    urllib, are never sent. The message names the settings to use instead.
    """

    url: str
    masked: str

    @classmethod
    def parse(cls, text: str, *, credentials_hint: str = "") -> Self:
        try:
            parts = urlsplit(text.strip())
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            raise ValueError("is not a valid http(s) URL") from None
        masked = mask_url(text)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http:// or https:// URL with a host (got {masked})")
        if parts.username is not None or parts.password is not None:
            hint = f"; {credentials_hint}" if credentials_hint else ""
            raise ValueError(f"must not carry credentials (user:password@) (got {masked}){hint}")
        if parts.query or parts.fragment:
            raise ValueError(f"must be a base URL without query or fragment (got {masked})")
        url = urlunsplit((parts.scheme.lower(), parts.netloc, parts.path.rstrip("/"), "", ""))
        return cls(url=url, masked=masked)

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"HttpEndpoint({self.masked!r})"
