"""An `https://` ClickHouse DSN means TLS with the server's certificate verified.

clickhouse-connect alone ignores the scheme of a DSN (it speaks plain HTTP to
`https://host:8123`); these tests listen on a local socket and look at what the pipeline's sink
really sends: a TLS ClientHello for https, plain HTTP for http, a completed handshake and an
authenticated request with the CA file setting, and a refusal of a certificate it cannot verify.
The password never appears in the error.
"""

from __future__ import annotations

import base64
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pipeline.adapters.clickhouse import ClickHouseSink
from pipeline.errors import SinkUnavailable

PASSWORD = "tls-Secret@pass/word"
DSN_PASSWORD = "tls-Secret%40pass%2Fword"  # percent-encoded in the DSN


@dataclass
class Listener:
    """A one-connection-at-a-time server on 127.0.0.1 recording the first bytes it receives."""

    context: ssl.SSLContext | None = None
    received: list[bytes] = field(default_factory=list)
    handshakes: int = 0
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    self._answer(conn)
                except (OSError, ssl.SSLError) as exc:
                    self.errors.append(str(exc))

    def _answer(self, conn: socket.socket) -> None:
        if self.context is None:
            self.received.append(conn.recv(4096))
            return
        with self.context.wrap_socket(conn, server_side=True) as tls:
            self.handshakes += 1
            self.received.append(tls.recv(4096))
            tls.sendall(b"HTTP/1.1 503 Unavailable\r\nContent-Length: 0\r\n\r\n")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def plain() -> Iterator[Listener]:
    listener = Listener()
    yield listener
    listener.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 made by openssl: (certificate, key)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "server.pem", folder / "server.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[Listener]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    listener = Listener(context)
    yield listener
    listener.close()


def _connect(dsn: str, ca_file: Path | None = None) -> str:
    with pytest.raises(SinkUnavailable) as raised:
        ClickHouseSink(dsn, "quality", "week", ca_file=ca_file)
    message = str(raised.value)
    assert PASSWORD not in message and DSN_PASSWORD not in message
    assert "***" in message or "pipeline:" not in message
    return message


def test_an_https_dsn_sends_a_tls_client_hello(plain: Listener) -> None:
    _connect(f"https://pipeline:{DSN_PASSWORD}@127.0.0.1:{plain.port}/quality")
    assert plain.received, "nothing reached the server"
    first = plain.received[0]
    # a TLS record of type handshake (22), version 3.x, carrying a ClientHello (1)
    assert first[0] == 0x16 and first[1] == 0x03 and first[5] == 0x01, first[:16]
    assert PASSWORD.encode() not in b"".join(plain.received)


def test_an_http_dsn_speaks_plain_http(plain: Listener) -> None:
    _connect(f"http://pipeline:{DSN_PASSWORD}@127.0.0.1:{plain.port}/quality")
    assert plain.received and plain.received[0].split(b" ")[0] in (b"GET", b"POST")


def test_https_with_the_ca_file_completes_the_handshake_and_authenticates(
    tls_server: Listener, certificate: tuple[Path, Path]
) -> None:
    message = _connect(
        f"https://pipeline:{DSN_PASSWORD}@127.0.0.1:{tls_server.port}/quality", certificate[0]
    )
    assert tls_server.handshakes >= 1, tls_server.errors
    request = tls_server.received[0]
    assert request.split(b" ")[0] in (b"GET", b"POST")
    # the credentials travel inside TLS, as parsed from the DSN (percent-decoded)
    expected = base64.b64encode(f"pipeline:{PASSWORD}".encode())
    assert b"Authorization: Basic " + expected in request
    assert f"https://pipeline:***@127.0.0.1:{tls_server.port}/quality" in message


def test_https_refuses_a_certificate_it_cannot_verify(tls_server: Listener) -> None:
    message = _connect(f"https://pipeline:{DSN_PASSWORD}@127.0.0.1:{tls_server.port}/quality")
    assert "CERTIFICATE_VERIFY_FAILED" in message or "certificate verify failed" in message
    assert tls_server.handshakes == 0
    assert not tls_server.received
