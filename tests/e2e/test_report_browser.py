"""The report in real headless Chromium: it renders, its charts are there, no console errors.

Chromium is driven over the DevTools protocol with a tiny standard-library WebSocket client, so
the test needs nothing beyond the browser. A screenshot is kept under test-artifacts/.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.adapters.clickhouse import ClickHouseSink
from pipeline.cli.demo import run_demo
from pipeline.report import build_report
from tests.support.report_data import fill_store

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail("headless Chromium is required in CI (apt-get install chromium)")
    return None


class DevTools:
    """Just enough of a WebSocket client (RFC 6455, text frames, no extensions) for CDP."""

    def __init__(self, ws_url: str) -> None:
        host_port, path = ws_url.removeprefix("ws://").split("/", 1)
        host, port = host_port.split(":")
        self._sock = socket.create_connection((host, int(port)), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /{path} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self._sock.sendall(request.encode())
        response = b""
        while b"\r\n\r\n" not in response:
            response += self._sock.recv(4096)
        head, self._buffer = response.split(b"\r\n\r\n", 1)
        assert b" 101 " in head.split(b"\r\n")[0], head
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def close(self) -> None:
        self._sock.close()

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        ident = self._next_id
        self._send(json.dumps({"id": ident, "method": method, "params": params}).encode())
        while True:
            message = self._receive()
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(method)
            self.events.append(self._receive())

    def _send(self, payload: bytes) -> None:
        mask = os.urandom(4)
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x81, 0x80 | size)
        elif size < 1 << 16:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, size)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self._sock.sendall(header + mask + masked)

    def _read(self, n: int) -> bytes:
        while len(self._buffer) < n:
            chunk = self._sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            self._buffer += chunk
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def _receive(self) -> dict[str, Any]:
        message = b""
        while True:
            first, second = self._read(2)
            size = second & 0x7F
            if size == 126:
                size = struct.unpack("!H", self._read(2))[0]
            elif size == 127:
                size = struct.unpack("!Q", self._read(8))[0]
            message += self._read(size)
            if first & 0x80:  # FIN
                parsed: dict[str, Any] = json.loads(message)
                return parsed


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    sink = ClickHouseSink(f"chdb://{folder / 'ch'}", "quality", "week")
    try:
        sink.migrate()
        fill_store(sink)
        return build_report(sink, folder / "report.html")
    finally:
        sink.close()


@contextlib.contextmanager
def open_in_chromium(page_file: Path) -> Iterator[DevTools]:
    """The page in headless Chromium at 1280 x 900, driven over the DevTools protocol."""
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    profile = tempfile.mkdtemp(prefix="report-chromium-")
    process = subprocess.Popen(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "--remote-debugging-address=127.0.0.1",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("Chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as reply:
            targets = json.load(reply)
        page = next(t for t in targets if t["type"] == "page")
        tools = DevTools(page["webSocketDebuggerUrl"])
        try:
            for domain in ("Page", "Runtime", "Log"):
                tools.call(f"{domain}.enable")
            tools.call(
                "Emulation.setDeviceMetricsOverride",
                width=1280,
                height=900,
                deviceScaleFactor=1,
                mobile=False,
            )
            tools.call("Page.navigate", url=page_file.as_uri())
            tools.wait_for("Page.loadEventFired")
            yield tools
        finally:
            tools.close()
    finally:
        process.terminate()
        process.wait(timeout=20)
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(report: Path) -> Iterator[DevTools]:
    with open_in_chromium(report) as tools:
        yield tools


def evaluate(tools: DevTools, expression: str) -> Any:
    result = tools.call("Runtime.evaluate", expression=expression, returnByValue=True)
    assert "exceptionDetails" not in result, result
    return result["result"].get("value")


VISIBLE = "(e => e.getClientRects().length > 0)"


def count_visible(tools: DevTools, selector: str) -> int:
    return int(
        evaluate(
            tools,
            f"Array.from(document.querySelectorAll({json.dumps(selector)})).filter({VISIBLE})"
            ".length",
        )
    )


def test_renders_every_section_with_its_charts(browser: DevTools) -> None:
    ids = evaluate(browser, "Array.from(document.querySelectorAll('section')).map(s => s.id)")
    assert ids == [
        "findings", "divergence", "dark-spots", "bright", "charts", "alerts", "learning", "method",
    ]  # fmt: skip
    # 2 scatters and one chart per organisation for the period shown; every unit (6) x 3 Making
    # Data Count charts (target, experience, harm)
    assert count_visible(browser, "svg.chart-scatter") == 2
    assert count_visible(browser, "svg.chart-strip") == 2
    assert count_visible(browser, "svg.chart-xmr") == 18
    assert count_visible(browser, "svg.chart-xmr circle.pt") > 2 * 40 + 12
    assert count_visible(browser, "#alert-table tbody tr") == 5
    size = evaluate(
        browser,
        "(() => { const r = document.querySelector('svg.chart-scatter').getBoundingClientRect();"
        " return [r.width, r.height]; })()",
    )
    assert size[0] > 400 and size[1] > 300  # laid out, not collapsed


def screenshot(browser: DevTools, name: str) -> bytes:
    """The whole page at 1280 pixels wide, kept under test-artifacts/."""
    height = evaluate(browser, "document.documentElement.scrollHeight")
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        width=1280,
        height=int(height),
        deviceScaleFactor=1,
        mobile=False,
    )
    shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        width=1280,
        height=900,
        deviceScaleFactor=1,
        mobile=False,
    )
    ARTIFACTS.mkdir(exist_ok=True)
    png = base64.b64decode(shot["data"])
    (ARTIFACTS / name).write_bytes(png)
    return png


def test_screenshot_at_1280_pixels(browser: DevTools) -> None:
    png = screenshot(browser, "report.png")
    assert png.startswith(b"\x89PNG") and len(png) > 50_000


def test_picking_an_earlier_period_shows_its_findings(browser: DevTools) -> None:
    def visible_h2() -> list[str]:
        return list(
            evaluate(
                browser,
                f"Array.from(document.querySelectorAll('section h2')).filter({VISIBLE})"
                ".map(h => h.textContent)",
            )
        )

    assert "RXA ED" in visible_h2()[1]
    evaluate(browser, "document.querySelector('nav.periods button[data-period=\"1\"]').click()")
    headings = visible_h2()
    assert "RXB MATERNITY" in headings[1]
    assert count_visible(browser, "svg.chart-scatter") == 2
    pressed = evaluate(
        browser, "document.querySelector('nav.periods [aria-pressed=\"true\"]').dataset.period"
    )
    assert pressed == "1"
    evaluate(browser, "document.querySelector('nav.periods button[data-period=\"0\"]').click()")
    assert "RXA ED" in visible_h2()[1]


def test_fits_1280_pixels_without_horizontal_scrolling(browser: DevTools) -> None:
    width = evaluate(browser, "document.documentElement.scrollWidth")
    assert width <= 1280
    overflowing = evaluate(
        browser,
        "Array.from(document.querySelectorAll('section, figure, table'))"
        ".filter(e => e.getBoundingClientRect().right > 1280).length",
    )
    assert overflowing == 0


def test_filters_and_sorts_the_alert_list(browser: DevTools) -> None:
    shown = evaluate(
        browser,
        "(() => { const s = document.getElementById('alert-status'); s.value = 'resolved';"
        " s.dispatchEvent(new Event('change'));"
        " const n = Array.from(document.querySelectorAll('#alert-table tbody tr'))"
        ".filter(r => !r.hidden).length; s.value = '';"
        " s.dispatchEvent(new Event('change')); return n; })()",
    )
    assert shown == 2
    first = evaluate(
        browser,
        "(() => { const th = document.querySelector('#alert-table th[data-sort]');"
        " th.click(); return document.querySelector('#alert-table tbody tr td').innerText; })()",
    )
    assert first.strip() == "medium"


def console_problems(tools: DevTools) -> list[dict[str, Any]]:
    return [
        e
        for e in tools.events
        if e.get("method") == "Runtime.exceptionThrown"
        or (
            e.get("method") == "Runtime.consoleAPICalled"
            and e["params"].get("type") in ("error", "assert")
        )
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") == "error")
    ]


def test_no_console_errors(browser: DevTools) -> None:
    assert console_problems(browser) == []


@pytest.mark.slow
def test_the_demo_report_renders_cleanly(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The report of a whole simulated trust (18 units), as `pipeline demo` writes it."""
    if find_chromium() is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    out_dir = tmp_path_factory.mktemp("demo")
    assert run_demo(out_dir, io.StringIO(), io.StringIO()) == 0
    with open_in_chromium(out_dir / "report.html") as tools:
        ids = evaluate(tools, "Array.from(document.querySelectorAll('section')).map(s => s.id)")
        assert ids == [
            "board", "findings", "divergence", "dark-spots", "bright", "charts", "alerts",
            "learning", "method",
        ]  # fmt: skip
        # The board's Making Data Count summary comes first: a row per unit, icons in each cell
        assert count_visible(tools, "#board table.board tbody tr") == 18
        assert count_visible(tools, "#board td.mdc-cell svg") >= 18 * 2
        # the safety team's actions are marked on the unit charts, and judged
        assert count_visible(tools, "#charts line.action-mark") >= 3
        verdicts = evaluate(
            tools,
            "Array.from(document.querySelectorAll('#learning .recovery .verdict-word'))"
            ".map(e => e.textContent)",
        )
        assert verdicts and set(verdicts) <= {"improved", "no change yet", "worse"}
        assert count_visible(tools, "#alerts .recovery") >= 1
        # free text is never shown: the simulated trust's comments are not on the page
        page_text = evaluate(tools, "document.body.innerText")
        assert "Waited hours with no update" not in page_text
        assert "Staff were kind and explained everything" not in page_text
        assert count_visible(tools, "svg.chart-scatter") == 2
        assert count_visible(tools, "svg.chart-strip") >= 2
        assert count_visible(tools, "svg.chart-xmr") >= 3
        assert evaluate(tools, "document.documentElement.scrollWidth") <= 1280
        buttons = count_visible(tools, "nav.periods button")
        for period in range(buttons):
            evaluate(
                tools,
                f"document.querySelector('nav.periods button[data-period=\"{period}\"]').click()",
            )
            assert count_visible(tools, "svg.chart-scatter") == 2
            assert evaluate(tools, "document.documentElement.scrollWidth") <= 1280
        evaluate(tools, "document.querySelector('nav.periods button').click()")
        screenshot(tools, "demo-report.png")
        assert console_problems(tools) == []
