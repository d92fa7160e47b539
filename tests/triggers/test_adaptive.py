"""DeliveryTrigger on the adaptive schedule, against the Sender25 emulator on a simulated clock."""

from __future__ import annotations

import asyncio

from airflow_provider_mail.hooks.sender25 import MESSAGE_PATH, Sender25Hook
from airflow_provider_mail.testing import Sender25Emulator
from airflow_provider_mail.triggers.delivery import DeliveryTrigger
from tests._delivery.simulated_time import on_emulator_clock

INTERVAL = 30.0


def run_to_event(emu, messages, monkeypatch, *, grace=300.0):
    trigger = DeliveryTrigger(
        service="sender25",
        conn_id="sender25_default",
        source={"inline": [int(key) for key in messages]},
        policy={"mode": "all", "fail_on_held": True, "bounce_grace_period": grace},
        poll_interval=INTERVAL,
    )
    on_emulator_clock(monkeypatch, emu)

    async def first():
        async for event in trigger.run():
            return event.payload
        return None

    return asyncio.run(first())


def test_the_trigger_polls_each_message_on_its_schedule_fewer_requests_than_messages_x_rounds(monkeypatch):
    with Sender25Emulator(delivery_delay=20, retry_interval=300, softfail_attempts=1) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_SENDER25_DEFAULT", emu.airflow_connection(retry_backoff=0.01))
        with Sender25Hook() as hook:
            sent = hook.send_message(
                to=[f"r{i}@example.org" for i in range(18)] + ["slow+softfail@example.org"],
                from_email="n@example.com",
                subject="s",
                plain_body="b",
            )
        messages = {str(entry["id"]): rcpt for rcpt, entry in sent["messages"].items()}
        started = emu.now()
        payload = run_to_event(emu, messages, monkeypatch)
        fixed_rounds = (emu.now() - started) / INTERVAL  # what polling every interval would have made
        reads = len([r for r in emu.requests if r.path == MESSAGE_PATH])
        assert payload["status"] == "success" and len(payload["outcomes"]) == 19
        assert reads < len(messages) * fixed_rounds / 5
        retried = emu.message(int(next(k for k, r in messages.items() if "softfail" in r))).deliveries
        assert emu.now() - retried[-1].timestamp >= 300  # it waited out the grace period after the retry
