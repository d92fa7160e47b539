"""A gate over a few thousand messages: its trigger's event (stored in the task instance's
``next_kwargs``) and its XCom stay a few KB, measured as Airflow stores them; every outcome is read
back from XCom pages. Both services, deferred and in poke mode, against the emulators.

Before, both carried every message's outcome: about 150 bytes a message (15 MB at 100k).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from airflow_provider_mail._shared.mime import build_email_message
from airflow_provider_mail.exceptions import DeliveryFailedError
from airflow_provider_mail.hooks.sender25 import Sender25Hook
from airflow_provider_mail.hooks.xmailer import XmailerSmtpHook
from airflow_provider_mail.sensors.delivery import Sender25DeliverySensor, XmailerDeliverySensor
from airflow_provider_mail.testing import Sender25Emulator, XmailerEmulator
from airflow_provider_mail.xcom import read_gate_outcomes

COUNT = 2_000
PER_SEND = 50
#: What the event and the XCom may take, whatever the batch (the benchmark's target is 64 KB at 100k).
STORED_MAX_BYTES = 16 * 1024


def stored_event_bytes(payload: dict[str, Any]) -> int:
    """The bytes of ``next_kwargs`` once the triggerer stored the event, as Airflow encodes it."""
    try:  # Airflow 3: serde (airflow.models.trigger.handle_event_submit)
        from airflow.sdk.serde import serialize
    except ImportError:  # Airflow 2: the ExtendedJSON column's BaseSerialization
        from airflow.serialization.serialized_objects import BaseSerialization

        serialize = BaseSerialization.serialize
    return len(json.dumps(serialize({"event": payload})))


def run_trigger(sensor, context) -> dict[str, Any]:
    """The trigger the sensor would defer to, run to its event (as the triggerer runs it)."""
    trigger = sensor.build_trigger(context)

    async def first_event():
        async for event in trigger.run():
            return event.payload

    return asyncio.run(first_event())


@pytest.fixture
def sender25(monkeypatch):
    with Sender25Emulator(delivery_delay=0.0) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_SENDER25_DEFAULT", emulator.airflow_connection(retry_backoff=0.01))
        yield emulator


@pytest.fixture
def xmailer(monkeypatch):
    with XmailerEmulator(visibility_lag=30, delivery_delay=1.0) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_XMAILER_DEFAULT", emulator.airflow_connection(retry_backoff=0.01))
        yield emulator


def sender25_sends(recipients: list[str]) -> list[dict[str, Any]]:
    with Sender25Hook() as hook:
        return [
            hook.send_message(
                to=recipients[start : start + PER_SEND],
                from_email="n@example.com",
                subject="s",
                plain_body="b",
            )
            for start in range(0, len(recipients), PER_SEND)
        ]


def xmailer_sends(recipients: list[str]) -> list[dict[str, Any]]:
    hook = XmailerSmtpHook()
    return [
        hook.send(
            build_email_message(
                to=recipients[start : start + PER_SEND],
                from_email="n@example.com",
                subject="s",
                plain_body="b",
            )
        )
        for start in range(0, len(recipients), PER_SEND)
    ]


def assert_bounded_with_every_outcome_in_pages(result: dict[str, Any], delivered: int) -> None:
    assert len(json.dumps(result)) <= STORED_MAX_BYTES
    assert result["total"] == COUNT and result["counts"]["delivered"] == delivered
    outcomes = read_gate_outcomes(result)
    assert len(outcomes) == COUNT
    assert sum(o["status"] == "delivered" for o in outcomes.values()) == delivered


def test_sender25_event_and_xcom_stay_small_at_a_few_thousand_messages(sender25, xcom_store):
    sent = sender25_sends([f"c{n}@example.org" for n in range(COUNT)])
    context = {"ti": xcom_store.ti(task_id="wait")}
    deferred = Sender25DeliverySensor(task_id="wait", messages=sent, poke_interval=0.2, deferrable=True)
    event = run_trigger(deferred, context)
    assert event["status"] == "success"
    assert stored_event_bytes(event) <= STORED_MAX_BYTES
    assert_bounded_with_every_outcome_in_pages(deferred.execute_complete(context, event), COUNT)
    # poke mode: the sensor writes the pages itself
    poking = Sender25DeliverySensor(task_id="poke", messages=sent, poke_interval=0.2, timeout=60)
    assert_bounded_with_every_outcome_in_pages(poking.execute({"ti": xcom_store.ti(task_id="poke")}), COUNT)


def test_xmailer_event_and_xcom_stay_small_at_a_few_thousand_messages(xmailer, xcom_store):
    sent = xmailer_sends([f"c{n}@example.org" for n in range(COUNT)])
    xmailer.advance(60)  # every delivery visible in the report
    context = {"ti": xcom_store.ti(task_id="wait")}
    deferred = XmailerDeliverySensor(task_id="wait", messages=sent, poke_interval=0.2, deferrable=True)
    event = run_trigger(deferred, context)
    assert event["status"] == "success"
    assert stored_event_bytes(event) <= STORED_MAX_BYTES
    assert_bounded_with_every_outcome_in_pages(deferred.execute_complete(context, event), COUNT)
    poking = XmailerDeliverySensor(task_id="poke", messages=sent, poke_interval=0.2, timeout=60)
    assert_bounded_with_every_outcome_in_pages(poking.execute({"ti": xcom_store.ti(task_id="poke")}), COUNT)


def test_a_failed_gate_lists_its_failures_by_recipient_within_the_bound(sender25, xcom_store):
    recipients = [f"c{n}+hardfail@example.org" if n % 50 == 0 else f"c{n}@example.org" for n in range(COUNT)]
    sent = sender25_sends(recipients)
    context = {"ti": xcom_store.ti(task_id="wait")}
    deferred = Sender25DeliverySensor(task_id="wait", messages=sent, poke_interval=0.2, deferrable=True)
    event = run_trigger(deferred, context)
    assert event["status"] == "failure" and stored_event_bytes(event) <= STORED_MAX_BYTES
    result = event["result"]
    assert result["counts"]["failed"] == COUNT // 50 and len(result["failures"]) == 20
    assert all(o["recipient"].endswith("+hardfail@example.org") for o in result["failures"].values())
    assert "and 30 more" in event["message"]
    with pytest.raises(DeliveryFailedError) as failed:
        deferred.execute_complete(context, event)
    assert len(json.dumps(failed.value.outcomes)) <= STORED_MAX_BYTES
    assert sum(o["status"] == "failed" for o in read_gate_outcomes(result).values()) == COUNT // 50
