"""The stored alerts and the safety team's responses to them, read for the report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.core.alerts import AlertKind, AlertStatus, Severity
from pipeline.report.driver_values import as_utc, evidence_dict
from pipeline.report.records import AlertRecord, ResponseRecord

if TYPE_CHECKING:
    from pipeline.report.queries import ReadableStore


def load_alerts(store: ReadableStore) -> list[AlertRecord]:
    """The latest version of every alert, withdrawn ones included (the caller decides)."""
    db = store.database
    history = {
        str(r["alert_id"]): (as_utc(r["first"]), int(r["versions"]))
        for r in store.query_dicts(
            "SELECT alert_id, min(detected_at) AS first, uniqExact(detected_at) AS versions "
            f"FROM {db}.alert_history GROUP BY alert_id"
        )
    }
    alerts = []
    for row in store.query_dicts(
        "SELECT alert_id, kind, org_id, unit_id, window_start, window_end, severity, status, "
        f"summary, evidence, detected_at FROM {db}.alerts FINAL "
        "ORDER BY window_start, org_id, unit_id, kind"
    ):
        alert_id = str(row["alert_id"])
        detected = as_utc(row["detected_at"])
        first, versions = history.get(alert_id, (detected, 1))
        alerts.append(
            AlertRecord(
                alert_id=alert_id,
                kind=AlertKind(row["kind"]),
                org_id=str(row["org_id"]),
                unit_id=str(row["unit_id"]),
                window_start=as_utc(row["window_start"]),
                window_end=as_utc(row["window_end"]),
                severity=Severity(row["severity"]),
                status=AlertStatus(row["status"]),
                summary=str(row["summary"]),
                evidence=evidence_dict(row["evidence"]),
                detected_at=detected,
                first_detected_at=first,
                versions=versions,
                responses=(),
            )
        )
    return alerts


def load_responses(store: ReadableStore) -> list[ResponseRecord]:
    """Every response in the order given (distinct events only); never the note's text."""
    rows = store.query_dicts(
        "SELECT alert_id, org_id, unit_id, response, responder_role, free_text_chars, "
        f"occurred_at, owner, due_by, event_id FROM {store.database}.alert_responses FINAL "
        "ORDER BY alert_id, occurred_at, event_id"
    )
    return [
        ResponseRecord(
            alert_id=str(r["alert_id"]),
            org_id=str(r["org_id"]),
            unit_id=str(r["unit_id"]),
            response=str(r["response"]),
            responder_role=str(r["responder_role"]),
            note_chars=int(r["free_text_chars"]),
            occurred_at=as_utc(r["occurred_at"]),
            owner=str(r["owner"]),
            due_by=None if r["due_by"] is None else as_utc(r["due_by"]),
            event_id=str(r["event_id"]),
        )
        for r in rows
    ]


def match_responses(
    responses: list[ResponseRecord], alerts: list[AlertRecord]
) -> tuple[dict[str, list[ResponseRecord]], list[ResponseRecord]]:
    """Responses by the alert they answer, and those naming no alert raised for their
    organisation and unit (the core's rule, pipeline.core.learning)."""
    where = {a.alert_id: (a.org_id, a.unit_id) for a in alerts}
    matched: dict[str, list[ResponseRecord]] = {}
    unmatched = []
    for r in responses:
        if where.get(r.alert_id) == (r.org_id, r.unit_id):
            matched.setdefault(r.alert_id, []).append(r)
        else:
            unmatched.append(r)
    return matched, unmatched


def answers_of(alert: AlertRecord, matched: list[ResponseRecord]) -> tuple[ResponseRecord, ...]:
    """The answers that answer `alert`, in the order given, as the core decided
    (`evidence.answered_by`: its own and its family's, but not those before a false positive
    it was detected after), the list Grafana reads too; `matched` are the responses matching
    any alert. An alert stored without that decision (withdrawn) shows its own answers."""
    decided = alert.evidence.get("answered_by")
    if not isinstance(decided, list):
        return tuple(r for r in matched if r.alert_id == alert.alert_id)
    by_id = {r.event_id: r for r in matched}
    return tuple(by_id[str(i)] for i in decided if str(i) in by_id)
