"""Alerts to the people on call, through the Alertmanager v2 API (`POST /api/v2/alerts`).

Alertmanager identifies an alert by its label set, so re-posting the same alert is idempotent:
it neither notifies again nor opens a second alert (its notification log deduplicates). That is
what makes this route safe across restarts. Alertmanager resolves an alert once its `endsAt`
has passed, so an open alert is posted with `endsAt` a few resend intervals ahead and posted
again every interval, which keeps it firing while the worker lives; a resolved or withdrawn
alert is posted once with `endsAt` at its resolution, which resolves it at once.

Alertmanager notifies a group only after its `group_wait`, and never of alerts that were
already resolved by then: an alert raised and resolved within a catch-up (its weeks long over
when the data came) reached nobody (found by the twenty-fifth session's outside check: 11 of
14 alerts, high ones among them, were never notified). So a resolution is held firing until
the alert has been firing for `ENDS_AT_INTERVALS` resend intervals (four minutes by default,
past the deploy's one-minute `group_wait`); one never posted while open is posted firing for
that long, its description saying that it is already over. A withdrawal is not held (the
condition was never there), nor is a dismissal (the team said so itself).

Everything here runs on its own thread: a slow or absent Alertmanager never holds up the
stream. Failures are counted, logged and retried with backoff; nothing raised here can stop
the worker.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from pipeline.adapters.alertmanager.payload import alert_payload
from pipeline.core.alerts import Alert, AlertStatus
from pipeline.endpoints import HttpEndpoint
from pipeline.errors import AlertRoutingError

log = logging.getLogger("pipeline.alertmanager")

ROUTE = "alertmanager"
API_PATH = "/api/v2/alerts"
# An open alert's endsAt is this many resend intervals ahead: a couple of failed posts do not
# resolve it, and a worker gone for good lets it resolve on its own.
ENDS_AT_INTERVALS = 4

_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)
Clock = Callable[[], datetime]
Version = tuple[str, datetime]


@dataclass(frozen=True, slots=True)
class AlertmanagerAuth:
    """Credentials for Alertmanager (or the proxy in front of it): basic auth or a bearer
    token, never both (the settings refuse that)."""

    username: str | None = None
    password: SecretStr | None = None
    bearer_token: SecretStr | None = None

    def header(self) -> str | None:
        """The `Authorization` header value, or None without credentials."""
        if self.bearer_token is not None:
            return f"Bearer {self.bearer_token.get_secret_value()}"
        if self.username is not None and self.password is not None:
            pair = f"{self.username}:{self.password.get_secret_value()}".encode()
            return f"Basic {base64.b64encode(pair).decode('ascii')}"
        return None


class AlertmanagerClient:
    """`POST /api/v2/alerts` with urllib. Raises AlertRoutingError on any failure.

    `base_url` carries no credentials (a URL with `user:password@` is refused): they come
    from `auth`. An https URL is verified against the system's CAs, or `ca_file`.
    """

    def __init__(
        self,
        base_url: HttpEndpoint | str,
        timeout: float = 10.0,
        *,
        auth: AlertmanagerAuth | None = None,
        ca_file: Path | None = None,
    ) -> None:
        endpoint = base_url if isinstance(base_url, HttpEndpoint) else HttpEndpoint.parse(base_url)
        self.url = endpoint.url + API_PATH
        self.timeout = timeout
        self._authorization = (auth or AlertmanagerAuth()).header()
        self._context = (
            ssl.create_default_context(cafile=str(ca_file))
            if ca_file is not None and self.url.startswith("https:")
            else None
        )

    def post(self, alerts: list[dict[str, Any]]) -> None:
        body = json.dumps(alerts).encode()
        headers = {"Content-Type": "application/json"}
        if self._authorization is not None:
            headers["Authorization"] = self._authorization
        request = urllib.request.Request(self.url, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(
                request, timeout=self.timeout, context=self._context
            ) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                detail = exc.read(300).decode("utf-8", errors="replace").strip()
            raise AlertRoutingError(f"Alertmanager answered {exc.code}: {detail}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise AlertRoutingError(f"Alertmanager at {self.url} unreachable: {reason}") from exc


class AlertmanagerRoute:
    """Keeps Alertmanager in step with the alerts, on a background thread.

    `submit` takes alert versions as the engine raises them; open ones join the firing set
    (posted now and every `resend` after), resolved and withdrawn ones are posted once and
    leave it. `delivered` hands back the versions Alertmanager accepted since the last call,
    for the delivery outbox.
    """

    def __init__(
        self,
        client: AlertmanagerClient,
        *,
        resend: timedelta,
        retry_initial: float = 1.0,
        retry_max: float = 30.0,
        clock: Clock = lambda: datetime.now(UTC),
        on_failure: Callable[[AlertRoutingError], None] = lambda exc: None,
    ) -> None:
        self._client = client
        self._resend = resend
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._clock = clock
        self._on_failure = on_failure
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._firing: dict[str, Alert] = {}
        self._ending: dict[str, Alert] = {}
        # Alertmanager tells alerts apart by their labels, severity among them: a version of
        # another severity is another alert there, so the earlier one is ended, not left to
        # fire beside it until it times out. Keyed by alert id and the earlier severity.
        self._superseded: dict[tuple[str, str], tuple[Alert, datetime]] = {}
        self._starts: dict[str, datetime] = {}
        # When Alertmanager first took each alert firing (any severity), which decides how long
        # its resolution is held firing (module docstring); alerts it took before this process
        # started are long ago (`seed`). One entry per alert id, as `_starts`.
        self._fired_at: dict[str, datetime] = {}
        self._unsent: set[Version] = set()
        self._delivered: list[Version] = []
        self._thread: threading.Thread | None = None
        self.failures = 0
        self.posts = 0

    def seed(
        self,
        alerts: Iterable[Alert],
        first_detected: dict[str, datetime],
        heard: Iterable[str] = (),
    ) -> None:
        """What Alertmanager should know on start-up: the open alerts, and any ending ones
        it was never told about; `first_detected` gives each alert's startsAt, `heard` the ids
        of alerts it took a version of before (their resolutions are not held)."""
        with self._lock:
            self._starts.update(first_detected)
            for alert_id in heard:
                self._fired_at.setdefault(alert_id, _LONG_AGO)
        self.submit(alerts)

    def submit(self, alerts: Iterable[Alert]) -> None:
        with self._lock:
            for alert in alerts:
                self._starts.setdefault(alert.alert_id, alert.detected_at)
                self._unsent.add((alert.alert_id, alert.detected_at))
                earlier = self._firing.get(alert.alert_id)
                if earlier is not None and earlier.severity is not alert.severity:
                    key = (alert.alert_id, earlier.severity.value)
                    self._superseded[key] = (earlier, alert.detected_at)
                self._superseded.pop((alert.alert_id, alert.severity.value), None)
                if alert.status is AlertStatus.OPEN:
                    self._ending.pop(alert.alert_id, None)
                    self._firing[alert.alert_id] = alert
                else:
                    self._firing.pop(alert.alert_id, None)
                    self._ending[alert.alert_id] = alert
        self._wake.set()

    def retain(self, keep: Callable[[Alert], bool]) -> None:
        """Forget the alerts `keep` rejects (say, of organisations another worker now owns:
        re-posting them from here would contradict their new owner)."""
        with self._lock:
            for table in (self._firing, self._ending):
                for alert_id in [i for i, alert in table.items() if not keep(alert)]:
                    del table[alert_id]
            for key in [k for k, (alert, _) in self._superseded.items() if not keep(alert)]:
                del self._superseded[key]
            self._unsent = {v for v in self._unsent if v[0] in self._firing or v[0] in self._ending}

    def delivered(self) -> list[Version]:
        with self._lock:
            done, self._delivered = self._delivered, []
        return done

    def pending(self) -> int:
        """Alerts not yet accepted by Alertmanager (firing ones are always re-posted)."""
        with self._lock:
            return len(self._unsent)

    def flush(self) -> bool:
        """Post everything now, on the calling thread; True when Alertmanager took it."""
        with self._lock:
            firing = list(self._firing.values())
            ending = list(self._ending.values())
            superseded = list(self._superseded.items())
            starts = dict(self._starts)
            fired_at = dict(self._fired_at)
            unsent = set(self._unsent)
        if not firing and not ending and not superseded:
            return True
        now = self._clock()
        open_for = self._resend * ENDS_AT_INTERVALS
        held: dict[str, datetime] = {}  # resolutions held firing, until when
        for a in ending:
            fired = fired_at.get(a.alert_id)
            if a.status is AlertStatus.RESOLVED and (fired is None or fired + open_for > now):
                held[a.alert_id] = (now if fired is None else fired) + open_for
        payload = (
            [
                alert_payload(a, starts_at=starts[a.alert_id], now=now, open_for=open_for)
                for a in firing
            ]
            + [
                alert_payload(
                    a,
                    starts_at=starts[a.alert_id],
                    now=now,
                    open_for=open_for,
                    ended=held.get(a.alert_id),
                    late=a.alert_id not in fired_at,
                )
                for a in ending
            ]
            + [
                alert_payload(
                    a, starts_at=starts[a.alert_id], now=now, open_for=open_for, ended=end
                )
                for _, (a, end) in superseded
            ]
        )
        try:
            self._client.post(payload)
        except AlertRoutingError as exc:
            self.failures += 1
            log.warning("alert routing to Alertmanager failed (will retry): %s", exc)
            try:
                self._on_failure(exc)
            except Exception:  # a metrics callback must not take the route down
                log.exception("alertmanager failure callback raised")
            return False
        self.posts += 1
        sent = {(a.alert_id, a.detected_at) for a in firing + ending}
        with self._lock:
            for alert_id in [a.alert_id for a in firing] + list(held):
                self._fired_at.setdefault(alert_id, now)
            for alert in ending:
                if self._ending.get(alert.alert_id) is alert:
                    del self._ending[alert.alert_id]
            for key, entry in superseded:
                if self._superseded.get(key) is entry:
                    del self._superseded[key]
            self._delivered.extend(sorted(unsent & sent))
            self._unsent -= sent
        return True

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="alertmanager-route", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread after one last attempt to post what is pending."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        delay = self._retry_initial
        while not self._stop.is_set():
            self._wake.clear()
            try:
                ok = self.flush()
            except Exception:  # never let the thread die: the worker must go on
                log.exception("alertmanager route: unexpected error")
                ok = False
            if ok:
                delay = self._retry_initial
                self._wake.wait(self._resend.total_seconds())
            else:
                self._wake.wait(delay)
                delay = min(delay * 2, self._retry_max)
        try:
            self.flush()
        except Exception:
            log.exception("alertmanager route: unexpected error on the last post")
