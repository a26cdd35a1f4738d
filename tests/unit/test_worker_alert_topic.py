"""Alert and dead-letter records for Kafka."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence

from pipeline.adapters.alert_topic import (
    KafkaRoute,
    Record,
    alert_record,
    dead_letter_envelope,
    dead_letter_record,
)
from pipeline.core.alerts import Alert
from pipeline.core.decode import Rejection, RejectReason
from pipeline.core.engine import RejectedMessage
from tests.support.alerts import alert

BAD = RejectedMessage(
    Rejection(RejectReason.NOT_JSON, "not JSON", "", b"\xffnope [NHS-NUMBER]"),
    "q.patient_feedback/3@42",
)


def test_an_alert_is_keyed_by_its_id_and_carries_the_contract_json() -> None:
    record = alert_record("q.alerts", alert())
    assert record.topic == "q.alerts" and record.key == b"tar-0001"
    assert Alert.model_validate_json(record.value) == alert()
    body = json.loads(record.value)
    assert body["detected_at"].endswith("Z") or body["detected_at"].endswith("+00:00")
    assert isinstance(body["evidence"], dict)


def test_a_dead_letter_keeps_the_original_bytes_reason_and_origin() -> None:
    envelope = dead_letter_envelope(BAD)
    assert set(envelope) == {"reason", "field", "detail", "origin", "raw_base64"}
    assert envelope["reason"] == "not_json"
    assert envelope["origin"] == "q.patient_feedback/3@42"
    assert base64.b64decode(envelope["raw_base64"]) == b"\xffnope [NHS-NUMBER]"
    record = dead_letter_record("q.dead_letter", BAD)
    assert record.key == BAD.rejection_id.encode()
    assert json.loads(record.value) == envelope


def test_the_route_sends_one_step_in_one_call_or_not_at_all() -> None:
    calls: list[Sequence[Record]] = []
    route = KafkaRoute(calls.append, alerts_topic="q.alerts", dead_letter_topic="q.dead_letter")
    route.deliver([], [])
    assert calls == []
    route.deliver([alert()], [BAD])
    (records,) = calls
    assert [r.topic for r in records] == ["q.dead_letter", "q.alerts"]
