"""One alert version as Alertmanager's v2 API takes it (a PostableAlert): labels that identify
the alert, annotations that explain it, and when it starts and ends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.core.alerts import Alert, AlertStatus


def alertname(alert: Alert) -> str:
    """`target_experience_divergence` -> `TargetExperienceDivergence`."""
    return "".join(part.capitalize() for part in alert.kind.value.split("_"))


def alert_payload(
    alert: Alert,
    *,
    starts_at: datetime,
    now: datetime,
    open_for: timedelta,
    ended: datetime | None = None,
    late: bool = False,
) -> dict[str, Any]:
    """One alert in the Alertmanager v2 API's PostableAlert form; `ended` ends its label set
    then whatever its status (a later version with another severity has replaced it, or a
    resolution held firing until Alertmanager has notified it); `late`: a resolved alert
    Alertmanager never had firing, which its description says."""
    if ended is not None:
        ends_at = max(ended, starts_at)
    elif alert.status is AlertStatus.OPEN:
        ends_at = now + open_for
    else:
        # Resolved or withdrawn: ended when that version was detected (never before it began).
        ends_at = max(alert.detected_at, starts_at)
    labels = {
        "alertname": alertname(alert),
        "kind": alert.kind.value,
        "org_id": alert.org_id,
        "unit_id": alert.unit_id,
        "severity": alert.severity.value,
        "alert_id": alert.alert_id,
    }
    return {
        # Alertmanager reads an empty label value as no label at all: leave such labels out.
        "labels": {name: value for name, value in labels.items() if value},
        "annotations": {
            "summary": alert.summary,
            "description": _description(alert, late),
            "evidence": json.dumps(alert.evidence, sort_keys=True, separators=(",", ":")),
            "status": alert.status.value,
            "period": period(alert),
            "window_start": alert.window_start.isoformat(),
            "window_end": alert.window_end.isoformat(),
        },
        "startsAt": _rfc3339(starts_at),
        "endsAt": _rfc3339(ends_at),
    }


def period(alert: Alert) -> str:
    """The days the alert's windows cover, both ends included: '1 Apr 2024 to 28 Apr 2024'
    (`window_end` is the first moment after them)."""
    last = alert.window_end - timedelta(microseconds=1)
    first = alert.window_start
    return f"{first.day} {first:%b %Y} to {last.day} {last:%b %Y}"


def _description(alert: Alert, late: bool = False) -> str:
    text = (
        f"{alert.kind.label}: {alert.severity.value} severity, unit {alert.unit_id} of "
        f"{alert.org_id}, {period(alert)} (when the events happened). The figures behind it "
        f"are in the evidence annotation, on the Grafana alerts dashboard and in the alerts "
        f"table under alert id {alert.alert_id}."
    )
    if alert.status is AlertStatus.RESOLVED:
        text += " The condition no longer shows in the latest window: resolved."
        if late:
            text += (
                " It was found only once its weeks were over (the data came late), so it "
                "is shown firing for a few minutes for the team to hear of it."
            )
    elif alert.status is AlertStatus.WITHDRAWN:
        successors = alert.evidence.get("replaced_by")
        if isinstance(successors, list) and successors:
            text += (
                " Late data moved its weeks: withdrawn; the alert raised in its place is "
                f"{', '.join(str(i) for i in successors)}."
            )
        else:
            text += " Late data showed the condition was never there: withdrawn."
    elif alert.status is AlertStatus.DISMISSED:
        text += " The safety team answered that it is a false positive: dismissed."
    return text


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
