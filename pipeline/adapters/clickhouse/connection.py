"""Connecting to ClickHouse (clickhouse-connect's arguments for a DSN) and classifying its
errors: unavailable (retry the same bytes later) or a refusal."""

from __future__ import annotations

import base64
import fcntl
import os
import re
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.exceptions import ClickHouseError

from pipeline.endpoints import ClickHouseDsn
from pipeline.errors import SinkError, SinkUnavailable

_TRANSIENT = (
    "Connection",
    "connect",
    "Timeout",
    "timed out",
    "503",
    "TOO_MANY_PARTS",
    "TOO_MANY_SIMULTANEOUS_QUERIES",
    "MEMORY_LIMIT_EXCEEDED",
    "NOT_ENOUGH_SPACE",
    "TABLE_IS_READ_ONLY",
    "KEEPER_EXCEPTION",
    "ALL_CONNECTION_TRIES_FAILED",
)


def classify(exc: ClickHouseError, what: str, refused: type[SinkError] = SinkError) -> SinkError:
    """ClickHouse unreachable or overloaded (retry the same bytes later): SinkUnavailable;
    anything else is a refusal of the statement or its rows (`refused`). The message keeps
    ClickHouse's first line without the row values it may quote (a violated constraint's
    `Column values: …`), since they may be personal."""
    text = str(exc)
    transient = any(marker in text for marker in _TRANSIENT)
    kind = SinkUnavailable if transient else refused
    first = _QUOTED_VALUES.sub(r"\1(not shown)", text.splitlines()[0])
    return kind(f"ClickHouse {what} failed: {first[:300]}")


_QUOTED_VALUES = re.compile(r"(Column values: ).*?(?=\. \([A-Z_]+\)$|$)")


def client_arguments(dsn: ClickHouseDsn, ca_file: Path | None = None) -> dict[str, Any]:
    """clickhouse-connect's arguments for `dsn`, spelled out (never its `dsn=`, which would
    ignore the https scheme and read TLS options from the query)."""
    if dsn.embedded:
        return {"interface": "chdb", "path": dsn.path}
    arguments: dict[str, Any] = {
        "interface": dsn.scheme,
        "host": dsn.host,
        "port": dsn.port,
        "username": dsn.username or None,
        "password": dsn.password.get_secret_value() if dsn.password is not None else "",
        "database": dsn.database or None,
        "generic_args": dict(dsn.options) or None,
    }
    if dsn.secure:
        arguments |= {"secure": True, "verify": True}
        if ca_file is not None:
            arguments["ca_cert"] = str(ca_file)
    return arguments


def connect_failure(exc: BaseException, dsn: ClickHouseDsn) -> str:
    """Why connecting failed, in one line of at most `REASON_CHARACTERS`, without the
    password (as written or as an HTTP basic credential). A server that is not ClickHouse
    (a web server or proxy on that port) answers with a page, which the driver quotes whole:
    only its status line and title are kept."""
    text = str(exc)
    if dsn.password is not None and (secret := dsn.password.get_secret_value()):
        basic = base64.b64encode(f"{dsn.username or 'default'}:{secret}".encode()).decode()
        text = text.replace(secret, "***").replace(basic, "***")
    head, page, rest = text.strip().partition(_SERVER_RESPONSE)
    if page and rest.lstrip().startswith("<"):
        title = _TITLE.search(rest)
        shown = f" titled {' '.join(title[1].split())!r}" if title else ""
        return _bounded(f"{head}{page} an HTML page{shown}: is this a ClickHouse server?")
    lines = text.strip().splitlines() or [""]
    return _bounded(lines[0] + (" …" if len(lines) > 1 else ""))


REASON_CHARACTERS = 300
_SERVER_RESPONSE = "server response:"
_TITLE = re.compile(r"<title[^>]*>([^<]{1,200})</title>", re.IGNORECASE)


def _bounded(line: str) -> str:
    return line if len(line) <= REASON_CHARACTERS else line[: REASON_CHARACTERS - 1] + "…"


def held_by_another_process(path: Path) -> bool:
    """Whether another process runs the embedded database at `path`: ClickHouse holds an
    exclusive lock on its `status` file, open, while it runs, and chDB's own error does not
    say so. Where this process's open files can be listed (`knows_its_own_files`), the lock
    of this process's own chDB is told apart, so it may be asked before chDB opens `path`;
    elsewhere only once chDB has refused it."""
    if _open_in_this_process(path / "status"):
        return False
    try:
        with (path / "status").open("rb") as status:
            fcntl.flock(status, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(status, fcntl.LOCK_UN)
    except BlockingIOError:
        return True
    except OSError:  # no status file: nobody has run it
        return False
    return False


_OPEN_FILES = Path("/proc/self/fd")


def knows_its_own_files() -> bool:
    """Whether this process can list the files it has open (Linux's /proc)."""
    return _OPEN_FILES.is_dir()


def _open_in_this_process(file: Path) -> bool:
    target = os.path.realpath(file)
    try:
        descriptors = list(_OPEN_FILES.iterdir())
    except OSError:
        return False
    for descriptor in descriptors:
        try:
            if os.readlink(descriptor) == target:
                return True
        except OSError:  # closed since it was listed
            continue
    return False
