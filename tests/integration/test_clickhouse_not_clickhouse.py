"""A DSN that points at an HTTP server which is not ClickHouse (here Python's own, which
answers a POST with a 501 page): the start-up error says so in one line, without the
password."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipeline.adapters.clickhouse import ClickHouseSink
from pipeline.errors import SinkUnavailable


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def web_server(tmp_path: Path) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_a_server_that_is_not_clickhouse_is_named_in_one_line(web_server: int) -> None:
    dsn = f"http://pipeline:Pa55-word@127.0.0.1:{web_server}/quality"
    with pytest.raises(SinkUnavailable) as raised:
        ClickHouseSink(dsn, "quality", "week")
    message = str(raised.value)
    assert "\n" not in message and "Pa55-word" not in message
    assert message.startswith("cannot connect to ClickHouse at http://pipeline:***@127.0.0.1:")
    assert "501" in message and "is this a ClickHouse server?" in message
