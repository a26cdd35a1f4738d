"""The reason shown when connecting to ClickHouse fails: one bounded line, never a secret,
even when the server at the DSN is not ClickHouse and answers with a whole page."""

from __future__ import annotations

import base64

from pipeline.adapters.clickhouse.connection import REASON_CHARACTERS, connect_failure
from pipeline.endpoints import ClickHouseDsn

DSN = ClickHouseDsn.parse("http://pipeline:Pa55-word@127.0.0.1:18124/quality")
BASIC = base64.b64encode(b"pipeline:Pa55-word").decode()
PAGE = """<!DOCTYPE HTML>
<html lang="en">
    <head>
        <meta charset="utf-8">
        <title>Error response</title>
    </head>
    <body>
        <h1>Error response</h1>
        <p>Error code: 501</p>
        <p>Message: Unsupported method ('POST').</p>
        <p>Authorization: Basic {basic} Pa55-word</p>
    </body>
</html>"""


def driver_error(page: str) -> Exception:
    """clickhouse-connect's message for an HTTP answer that is not ClickHouse's."""
    return Exception(
        f"HTTP driver received HTTP status 501, server response: {page} "
        "(for url http://127.0.0.1:18124)"
    )


def test_a_page_from_a_server_that_is_not_clickhouse_is_summed_up_in_one_line() -> None:
    reason = connect_failure(driver_error(PAGE.format(basic=BASIC)), DSN)
    assert reason == (
        "HTTP driver received HTTP status 501, server response: an HTML page titled "
        "'Error response': is this a ClickHouse server?"
    )


def test_a_long_or_multi_line_reason_is_cut_and_keeps_no_secret() -> None:
    text = f"Pa55-word {BASIC} " + "x" * 1000 + "\nsecond line"
    reason = connect_failure(Exception(text), DSN)
    assert "\n" not in reason and len(reason) <= REASON_CHARACTERS
    assert "Pa55-word" not in reason and BASIC not in reason
    assert reason.startswith("*** *** xxx") and reason.endswith("…")
    page = "\n".join(["<html><body>", *(f"<p>{BASIC}</p>" for _ in range(50)), "</body>"])
    untitled = connect_failure(driver_error(page), DSN)
    assert untitled.endswith("server response: an HTML page: is this a ClickHouse server?")


def test_a_short_reason_is_shown_as_it_is() -> None:
    text = "Connection refused (for url http://127.0.0.1:18124)"
    assert connect_failure(Exception(text), DSN) == text
