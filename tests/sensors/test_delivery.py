"""Delivery sensors against the emulators' lifecycles: poke mode, deferral through a real trigger run."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest

from airflow_provider_mail._compat import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)
from airflow_provider_mail._shared.mime import build_email_message
from airflow_provider_mail.exceptions import DeliveryFailedError, MailProviderError, Sender25AuthError
from airflow_provider_mail.hooks.sender25 import MESSAGE_PATH, Sender25Hook
from airflow_provider_mail.hooks.xmailer import XmailerSmtpHook
from airflow_provider_mail.sensors.delivery import Sender25DeliverySensor, XmailerDeliverySensor
from airflow_provider_mail.testing import Fault, Sender25Emulator, XmailerEmulator
from airflow_provider_mail.triggers.delivery import DeliveryTrigger
from airflow_provider_mail.xcom import read_gate_outcomes
from tests._delivery.simulated_time import on_emulator_clock

CONTEXT = {"ti": SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1, try_number=1)}


@pytest.fixture
def emulator(monkeypatch):
    with Sender25Emulator(delivery_delay=0.6, retry_interval=0.3, bounce_delay=0.6) as emu:
        monkeypatch.setenv(
            "AIRFLOW_CONN_SENDER25_DEFAULT", emu.airflow_connection(retry_backoff=0.01, timeout=5)
        )
        yield emu


def send(*recipients: str) -> dict:
    with Sender25Hook() as hook:
        return hook.send_message(to=list(recipients), from_email="n@example.com", subject="s", plain_body="b")


def sensor(messages, **kwargs):
    kwargs.setdefault("poke_interval", 0.1)
    kwargs.setdefault("timeout", 20)
    return Sender25DeliverySensor(
        task_id="wait", messages=messages, deferrable=kwargs.pop("deferrable", False), **kwargs
    )


def run_deferred(operator, context=CONTEXT):
    """execute() -> TaskDeferred -> the trigger's real run() -> execute_complete(), as Airflow does."""
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)
    trigger = deferred.value.trigger
    assert deferred.value.method_name == "execute_complete"

    async def first_event():
        async for event in trigger.run():
            return event
        return None

    event = asyncio.run(first_event())
    return event, lambda: operator.execute_complete(context, event.payload)


def finish(operator, deferrable: bool):
    """Run a sensor to its end, in poke mode or through deferral."""
    return run_deferred(operator)[1]() if deferrable else operator.execute(CONTEXT)


def message_reads(emulator):
    return [r for r in emulator.requests if r.path == MESSAGE_PATH]


# -- outcomes ------------------------------------------------------------------------------------------
def test_delivered_after_a_delay_succeeds_with_the_outcome_in_xcom(emulator):
    sent = send("ana@example.org")
    outcomes = read_gate_outcomes(sensor(sent).execute(CONTEXT))
    ((key, outcome),) = outcomes.items()
    assert key == str(sent["messages"]["ana@example.org"]["id"])
    assert (outcome["status"], outcome["raw_status"], outcome["recipient"]) == (
        "delivered",
        "Sent",
        "ana@example.org",
    )
    assert outcome["at"].endswith("+00:00")
    assert len(message_reads(emulator)) > 1  # it really waited


def test_deferrable_sensor_defers_and_the_trigger_delivers_the_same_outcome(emulator):
    sent = send("ana@example.org")
    event, complete = run_deferred(sensor(sent, deferrable=True))
    assert event.payload["status"] == "success" and event.payload["polls"] > 1
    assert (
        read_gate_outcomes(complete())[str(sent["messages"]["ana@example.org"]["id"])]["status"]
        == "delivered"
    )


@pytest.mark.parametrize("deferrable", [False, True])
def test_hardfail_fails_fast_naming_recipient_and_reason(emulator, deferrable):
    sent = send("ok@example.org", "ghost+hardfail@example.org")
    operator = sensor(sent, deferrable=deferrable, timeout=600)
    with pytest.raises(DeliveryFailedError) as info:
        finish(operator, deferrable)
    text = str(info.value)
    assert "ghost+hardfail@example.org" in text and "HardFail" in text and "550 5.1.1" in text
    failed_at = (
        emulator.message(sent["messages"]["ghost+hardfail@example.org"]["id"]).deliveries[-1].timestamp
    )
    reads_after_failure = [r for r in message_reads(emulator) if r.timestamp > failed_at]
    assert len(reads_after_failure) <= 2  # one poll (two messages) after the event, not more
    assert (
        info.value.outcomes[str(sent["messages"]["ghost+hardfail@example.org"]["id"])]["status"] == "failed"
    )


@pytest.mark.parametrize("deferrable", [False, True])
def test_a_bounce_inside_the_grace_period_fails_the_gate(emulator, deferrable):
    sent = send("late+bounce@example.org")
    operator = sensor(sent, deferrable=deferrable, bounce_grace_period=5)
    with pytest.raises(DeliveryFailedError, match=r"late\+bounce@example.org.*Bounced"):
        finish(operator, deferrable)


def test_without_grace_period_the_gate_succeeds_at_sent(emulator):
    sent = send("late+bounce@example.org")
    outcome = next(iter(read_gate_outcomes(sensor(sent).execute(CONTEXT)).values()))
    assert outcome["raw_status"] == "Sent"


def test_softfail_keeps_waiting_then_succeeds(monkeypatch):
    """Poke mode on Postal's own timing: the sensor keeps its schedule between pokes, skips the soft
    failure until Postal's retry is near, and sees the retry's Sent within one poke interval."""
    interval = 30.0
    with Sender25Emulator(delivery_delay=10, retry_interval=300, softfail_attempts=1) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_SENDER25_DEFAULT", emu.airflow_connection(retry_backoff=0.01))
        sent = send("slow+softfail@example.org")
        operator = sensor(sent, poke_interval=interval)
        on_emulator_clock(monkeypatch, emu)
        pokes, result = 0, False
        while not result and pokes < 60:
            emu.advance(interval)
            pokes += 1
            result = operator.poke(CONTEXT)
        (message,) = emu.messages()
        sent_at = message.deliveries[-1].timestamp
        assert [d.status for d in message.deliveries] == ["SoftFail", "Sent"]
        assert read_gate_outcomes(result.xcom_value)[str(message.id)]["status"] == "delivered"
        assert emu.now() - sent_at <= interval  # seen within one interval of the retry
        reads = len(message_reads(emu))
        assert reads < pokes  # the pokes between the soft failure and Postal's retry read nothing


def test_held_fails_by_default(emulator):
    sent = send("wait+held@example.org")
    with pytest.raises(DeliveryFailedError, match="Held"):
        sensor(sent).execute(CONTEXT)


def test_held_keeps_waiting_when_asked_until_released(emulator):
    sent = send("wait+held@example.org")
    message_id = sent["messages"]["wait+held@example.org"]["id"]
    with pytest.raises(AirflowSensorTimeout):
        sensor(sent, fail_on_held=False, timeout=1.5).execute(CONTEXT)
    emulator.release(message_id)
    result = sensor(sent, fail_on_held=False).execute(CONTEXT)
    assert next(iter(read_gate_outcomes(result).values()))["status"] == "delivered"


def test_a_batch_of_200_ids_in_one_sensor(emulator, xcom_store):
    batches = [send(*[f"r{b}-{i}@example.org" for i in range(50)]) for b in range(4)]
    result = sensor(batches, poke_interval=0.3).execute({"ti": xcom_store.ti()})
    assert result["total"] == 200 and result["counts"]["delivered"] == 200 and not result["complete"]
    outcomes = read_gate_outcomes(result)
    assert len(outcomes) == 200 and {o["status"] for o in outcomes.values()} == {"delivered"}


def test_a_batch_of_200_in_the_trigger(emulator, xcom_store):
    batches = [send(*[f"r{b}-{i}@example.org" for i in range(50)]) for b in range(4)]
    context = {"ti": xcom_store.ti()}
    event, complete = run_deferred(sensor(batches, deferrable=True, poke_interval=0.3), context)
    assert "outcomes" not in event.payload and event.payload["result"]["total"] == 200
    assert len(read_gate_outcomes(complete())) == 200


def test_wait_for_any(emulator):
    sent = send("ok@example.org", "x+hardfail@example.org", "y+held@example.org")
    outcomes = read_gate_outcomes(sensor(sent, wait_for="any", fail_on_held=False).execute(CONTEXT))
    assert sorted(o["status"] for o in outcomes.values())[0] == "delivered"


def test_soft_fail_skips_instead_of_failing(emulator):
    sent = send("x+hardfail@example.org")
    with pytest.raises(AirflowSkipException):
        sensor(sent, soft_fail=True).execute(CONTEXT)
    with pytest.raises(AirflowSkipException):
        run_deferred(sensor(sent, soft_fail=True, deferrable=True, poke_interval=0.1))


def test_transient_errors_never_end_the_wait(emulator):
    sent = send("ana@example.org")
    operator = sensor(sent, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(CONTEXT)
    emulator.inject(Fault.HTTP_503, count=12)  # more than the hook's own retries: whole polls fail

    async def first_event():
        async for event in deferred.value.trigger.run():
            return event

    event = asyncio.run(first_event())
    assert event.payload["status"] == "success"


def test_an_auth_error_ends_the_wait_at_once_with_the_named_error(emulator, monkeypatch):
    sent = send("ana@example.org")
    monkeypatch.setenv(
        "AIRFLOW_CONN_SENDER25_DEFAULT",
        emulator.airflow_connection().replace(emulator.api_key, "revoked-key"),
    )
    with pytest.raises(Sender25AuthError):
        sensor(sent).execute(CONTEXT)
    trigger = DeliveryTrigger(
        service="sender25",
        conn_id="sender25_default",
        messages={"1": None},
        policy={"mode": "all", "fail_on_held": True, "bounce_grace_period": 0},
        poll_interval=0.1,
    )

    async def first_event():
        async for event in trigger.run():
            return event

    payload = asyncio.run(first_event()).payload
    assert payload["status"] == "error" and payload["error_type"] == "Sender25AuthError"
    with pytest.raises(Sender25AuthError) as info:  # its own, fatal type: Airflow does not retry it
        sensor(sent).execute_complete(CONTEXT, payload)
    assert isinstance(info.value, AirflowFailException)
    assert info.value.code == "InvalidServerAPIKey"


@pytest.mark.parametrize("event", [None, {}, {"status": "weird"}, {"status": "success"}, "success"])
def test_execute_complete_fails_loudly_on_an_unexpected_event(event):
    with pytest.raises(MailProviderError):
        sensor(1).execute_complete(CONTEXT, event)


def test_an_immediate_success_never_defers(emulator):
    sent = send("ana@example.org")
    emulator.advance(60)
    assert sensor(sent, deferrable=True).execute(CONTEXT)  # no TaskDeferred


@pytest.mark.parametrize(
    "messages", [7, "7", [7, 8], {"message_id": "x", "messages": {"a@x.org": {"id": 7, "token": "t"}}}]
)
def test_message_forms(messages):
    assert "7" in sensor(messages)._start_wait().awaited.keys


# -- xmailer --------------------------------------------------------------------------------------------
@pytest.fixture
def xmailer(monkeypatch):
    with XmailerEmulator(visibility_lag=30, delivery_delay=1.0, softfail_retry=40) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_XMAILER_DEFAULT", emulator.airflow_connection(retry_backoff=0.01))
        yield emulator


def xsend(*recipients):
    return XmailerSmtpHook().send(
        build_email_message(to=list(recipients), from_email="n@example.com", subject="s", plain_body="b")
    )


def test_xmailer_sensor_makes_one_report_request_per_poke_for_a_batch(xmailer, monkeypatch, xcom_store):
    sent = [xsend(*[f"r{b}-{i}@example.org" for i in range(10)]) for b in range(5)]  # 50 deliveries
    operator = XmailerDeliverySensor(task_id="w", messages=sent, poke_interval=0.2, timeout=30)
    on_emulator_clock(monkeypatch, xmailer)
    for _ in range(3):
        assert operator.poke(CONTEXT) is False  # not visible yet: pending, not failed
        xmailer.advance(1)  # one poke interval and more: every pending delivery is due again
    assert len(xmailer.requests) == 3
    xmailer.advance(120)
    result = operator.poke({"ti": xcom_store.ti()})
    assert len(xmailer.requests) == 4
    outcomes = read_gate_outcomes(result.xcom_value)
    assert len(outcomes) == 50 and {o["status"] for o in outcomes.values()} == {"delivered"}


def test_xmailer_sensor_fails_fast_on_a_hard_bounce_and_waits_through_softfail(xmailer, monkeypatch):
    sent = xsend("a@example.org", "b+softfail@example.org")
    operator = XmailerDeliverySensor(task_id="w", messages=sent, poke_interval=0.2, timeout=30)
    on_emulator_clock(monkeypatch, xmailer)
    xmailer.advance(35)  # the softfail's 4xx is visible, its delivery (40 s later) is not yet
    assert operator.poke(CONTEXT) is False
    xmailer.advance(60)
    assert operator.poke(CONTEXT).is_done
    bad = xsend("c+hardfail@example.org")
    xmailer.advance(60)
    with pytest.raises(DeliveryFailedError, match=r"c\+hardfail@example.org.*550"):
        XmailerDeliverySensor(task_id="w2", messages=bad, poke_interval=0.2).poke(CONTEXT)


def test_xmailer_sensor_deferred_through_the_trigger(xmailer):
    sent = xsend("a@example.org")
    operator = XmailerDeliverySensor(
        task_id="w", messages=[sent], poke_interval=0.2, timeout=30, deferrable=True
    )
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(CONTEXT)
    xmailer.advance(60)

    async def first_event():
        async for event in deferred.value.trigger.run():
            return event

    event = asyncio.run(first_event())
    outcomes = read_gate_outcomes(operator.execute_complete(CONTEXT, event.payload))
    assert list(outcomes) == [f"{sent['queue_id']}/a@example.org"]


def test_xmailer_triples_match_by_sender_recipient_and_time(xmailer):
    before = time.time() - 5
    xsend("t@example.org")
    xmailer.advance(60)
    result = XmailerDeliverySensor(task_id="w", messages=[("n@example.com", "t@example.org", before)]).poke(
        CONTEXT
    )
    assert next(iter(read_gate_outcomes(result.xcom_value).values()))["status"] == "delivered"


def test_xmailer_window_starts_before_the_earliest_receive_time_in_the_ids():
    from datetime import datetime, timedelta, timezone

    from airflow_provider_mail._delivery.checks import XmailerDeliveryCheck
    from airflow_provider_mail._delivery.policy import xmailer_targets

    check = XmailerDeliveryCheck("x", xmailer_targets(["1grzDi-00087c-PO", "1grzDQ-000866-0o"]))
    start, end = check.window(now=datetime(2019, 2, 8, 7, 0, tzinfo=timezone.utc).timestamp())
    assert start == datetime(2019, 2, 8, 6, 0, 44, tzinfo=timezone.utc) - timedelta(minutes=5)
    assert end == datetime(2019, 2, 8, 7, 5, tzinfo=timezone.utc)  # now + the clock-skew allowance
