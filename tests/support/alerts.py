"""Alerts to test with, and a fake Alertmanager (v2 API) on loopback."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pipeline.core.alerts import Alert, AlertKind, AlertStatus, Severity

T0 = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)


def alert(
    status: AlertStatus = AlertStatus.OPEN,
    detected_at: datetime = T0,
    alert_id: str = "tar-0001",
    severity: Severity = Severity.MEDIUM,
) -> Alert:
    return Alert(
        alert_id=alert_id,
        kind=AlertKind.TARGET_EXPERIENCE_DIVERGENCE,
        org_id="RXA",
        unit_id="ED",
        window_start=datetime(2024, 4, 1, tzinfo=UTC),
        window_end=datetime(2024, 4, 15, tzinfo=UTC),
        severity=severity,
        summary="ED met its 4-hour target but patients rated it worse.",
        evidence={"negative_share": 0.31, "limit": 0.12, "responses": 48},
        detected_at=detected_at,
        status=status,
    )


class FakeAlertmanager:
    """Records every POST /api/v2/alerts body; answers 503 while `failures` > 0."""

    def __init__(self) -> None:
        self.posts: list[list[dict[str, Any]]] = []
        self._posted = threading.Condition()
        self.failures = 0
        self.paths: list[str] = []
        self.authorizations: list[str | None] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                owner.paths.append(self.path)
                owner.authorizations.append(self.headers.get("Authorization"))
                if owner.failures > 0:
                    owner.failures -= 1
                    self.send_response(503)
                    self.end_headers()
                    self.wfile.write(b"busy")
                    return
                with owner._posted:
                    owner.posts.append(json.loads(body))
                    owner._posted.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def wait_for_posts(self, count: int, timeout: float) -> None:
        """Wait until `count` posts in all were accepted; AssertionError after `timeout` s."""
        with self._posted:
            if not self._posted.wait_for(lambda: len(self.posts) >= count, timeout):
                raise AssertionError(f"{len(self.posts)} posts to Alertmanager, not {count}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
