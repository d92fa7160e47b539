"""Postal's envelope: shape, the time window, and the asset-event extra built from it."""

from __future__ import annotations

import json
import uuid

import pytest

from airflow_provider_mail._webhooks.envelope import (
    DEFAULT_MAX_AGE_SECONDS,
    event_extra,
    parse_envelope,
)
from airflow_provider_mail._webhooks.refusal import WebhookRefused
from airflow_provider_mail._webhooks.trace import parse_trace, trace_from_headers

NOW = 1_800_000_000.0
MESSAGE = {
    "id": 12,
    "token": "q8ZkT2vLr0Wm4NcY",
    "direction": "outgoing",
    "message_id": "abc@rp.example",
    "to": "ana+hardfail@example.org",
    "from": "noreply@acme.example",
    "subject": "Invoice",
    "timestamp": NOW - 10,
    "spam_status": "NotChecked",
    "tag": "invoices",
}


def body(**changes: object) -> bytes:
    document = {
        "event": "MessageDeliveryFailed",
        "timestamp": NOW - 5,
        "payload": {"message": MESSAGE, "status": "HardFail", "details": "d", "output": "550 5.1.1"},
        "uuid": str(uuid.UUID(int=7)),
        **changes,
    }
    return json.dumps(document).encode()


def test_postals_retry_span_is_inside_the_default_window() -> None:
    retries = (2 + 3 + 6 + 10 + 15) * 60
    assert retries < DEFAULT_MAX_AGE_SECONDS
    envelope = parse_envelope(body(timestamp=NOW - retries - 60), now=NOW)
    assert envelope.event == "MessageDeliveryFailed"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "malformed"),
        (b"[]", "malformed"),
        (body(event="Nope"), "malformed"),
        (body(timestamp="1"), "malformed"),
        (body(timestamp=True), "malformed"),
        (body(payload=[]), "malformed"),
        (body(uuid="x"), "malformed"),
        (body(uuid=None), "malformed"),
        (body(timestamp=NOW - DEFAULT_MAX_AGE_SECONDS - 1), "stale"),
        (body(timestamp=NOW + 3600), "future"),
    ],
)
def test_refusals(raw: bytes, reason: str) -> None:
    with pytest.raises(WebhookRefused) as refused:
        parse_envelope(raw, now=NOW)
    assert refused.value.reason == reason


def test_extra_carries_the_payload_fields_and_the_uuid() -> None:
    extra = event_extra(parse_envelope(body(), now=NOW), conn_id="sender25_default")
    assert extra["uuid"] == str(uuid.UUID(int=7))
    assert (extra["message_id"], extra["token"], extra["recipient"], extra["tag"]) == (
        12,
        "q8ZkT2vLr0Wm4NcY",
        "ana+hardfail@example.org",
        "invoices",
    )
    assert (extra["status"], extra["details"], extra["output"]) == ("HardFail", "d", "550 5.1.1")
    assert extra["payload"]["message"] == MESSAGE


def test_bounce_extra_names_the_original_message() -> None:
    bounce = {**MESSAGE, "id": 13, "direction": "incoming", "to": "rp@acme.example"}
    raw = body(event="MessageBounced", payload={"original_message": MESSAGE, "bounce": bounce})
    extra = event_extra(parse_envelope(raw, now=NOW), conn_id="c")
    assert (extra["message_id"], extra["recipient"]) == (12, "ana+hardfail@example.org")


def test_trace_parsing_keeps_only_known_fields() -> None:
    value = "dag_id=billing; task_id=send; run_id=manual__1; map_index=-1; try_number=2; evil=1"
    assert parse_trace(value) == {
        "dag_id": "billing",
        "task_id": "send",
        "run_id": "manual__1",
        "map_index": -1,
        "try_number": 2,
    }
    assert trace_from_headers({"x-airflow-trace": [value]})["dag_id"] == "billing"
    assert trace_from_headers({}) is None
