"""Alerts and dead letters as Kafka records: `<prefix>.alerts` and `<prefix>.dead_letter`.

An alert record is keyed by `alert_id` (every version of one alert lands on one partition, in
order) and its value is the contract's alert JSON (CONTRACT.md §2, plus `status`). A dead letter
is keyed by its rejection id and carries the envelope `{reason, field, detail, origin,
raw_base64}`: the original bytes (valid NHS numbers redacted) with the machine-readable reason.

The records are built here; sending is the caller's (`KafkaRoute` takes any `send` that
delivers one record and raises when the broker did not take it).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pipeline.core.alerts import Alert
from pipeline.core.engine import RejectedMessage

ALERTS_TOPIC = "alerts"
DEAD_LETTER_TOPIC = "dead_letter"
ROUTE = "kafka"


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    key: bytes
    value: bytes


def alert_record(topic: str, alert: Alert) -> Record:
    return Record(topic, alert.alert_id.encode(), alert.to_json().encode())


def dead_letter_envelope(message: RejectedMessage) -> dict[str, str]:
    rejection = message.rejection
    return {
        "reason": rejection.reason.value,
        "field": rejection.field,
        "detail": rejection.detail,
        "origin": message.origin,
        "raw_base64": base64.b64encode(rejection.raw).decode("ascii"),
    }


def dead_letter_record(topic: str, message: RejectedMessage) -> Record:
    value = json.dumps(dead_letter_envelope(message), separators=(",", ":")).encode()
    return Record(topic, message.rejection_id.encode(), value)


Send = Callable[[Sequence[Record]], None]


class KafkaRoute:
    """Alerts and dead letters of one step to their topics, through `send`.

    `send` delivers a sequence of records and returns only once the broker took all of them
    (raising TransportError otherwise), so the caller may then commit its input offsets.
    """

    def __init__(self, send: Send, *, alerts_topic: str, dead_letter_topic: str) -> None:
        self._send = send
        self.alerts_topic = alerts_topic
        self.dead_letter_topic = dead_letter_topic

    def records(self, alerts: Sequence[Alert], rejected: Sequence[RejectedMessage]) -> list[Record]:
        return [dead_letter_record(self.dead_letter_topic, r) for r in rejected] + [
            alert_record(self.alerts_topic, a) for a in alerts
        ]

    def deliver(self, alerts: Sequence[Alert], rejected: Sequence[RejectedMessage]) -> None:
        records = self.records(alerts, rejected)
        if records:
            self._send(records)
