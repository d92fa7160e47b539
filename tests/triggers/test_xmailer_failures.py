"""XmailerFailureTrigger against the xmailer emulator: one report request per round, one event per new
failed row, and the committed keys (the asset state store) decide what a restarted trigger skips."""

from __future__ import annotations

import asyncio
import json
import smtplib
import ssl
import uuid
from typing import Any

import pytest

from airflow_provider_mail._webhooks.xmailer_failures import STORE_KEY, emitted_entry, remember
from airflow_provider_mail.triggers.xmailer_failures import XmailerFailureTrigger


def relay(emulator: Any, *recipients: str) -> None:
    with smtplib.SMTP(emulator.smtp_host, emulator.smtp_port, timeout=10) as smtp:
        smtp.starttls(context=ssl.create_default_context(cafile=emulator.ca_cert_path))
        smtp.login(emulator.username, emulator.password)
        smtp.sendmail("app@example.com", list(recipients), b"Subject: Oi\r\n\r\nOla")


class Store:
    """The asset state store as the triggerer injects it (``aget``), holding what the listener committed."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def commit(self, payload: dict[str, Any]) -> None:
        """What the listener does in the event's transaction."""
        key, until = emitted_entry({"from_trigger": True, "payload": payload})
        self.values[STORE_KEY] = remember(self.values.get(STORE_KEY, {}), key, until, now=0)


def collect(trigger: XmailerFailureTrigger, rounds: int, emulator: Any) -> list[dict[str, Any]]:
    """Run the trigger for ``rounds`` polls (its sleep ends the run after the last one), on the emulator's
    clock (deliveries happen on it)."""
    events: list[dict[str, Any]] = []
    trigger.clock = emulator.now  # type: ignore[method-assign]
    slept = 0

    async def sleep(seconds: float) -> None:
        nonlocal slept
        slept += 1
        if slept >= rounds:
            raise asyncio.CancelledError

    trigger.sleep = sleep  # type: ignore[method-assign]

    async def run() -> None:
        async for event in trigger.run():
            events.append(event.payload)

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(run())
    return events


def report_requests(emulator: Any) -> int:
    return len([r for r in emulator.requests if r.path.endswith("report.php")])


def test_each_failure_once_one_request_per_round(xmailer_airflow_conn) -> None:
    emulator = xmailer_airflow_conn
    tag = uuid.uuid4().hex[:6]
    relay(emulator, f"a-{tag}+hardfail@example.org", f"b-{tag}@example.org", f"c-{tag}+hardfail@example.org")
    emulator.advance(60)
    trigger = XmailerFailureTrigger(conn_id="xmailer_default", poll_interval=1)
    events = collect(trigger, rounds=3, emulator=emulator)
    assert sorted(e["recipient"] for e in events) == [
        f"a-{tag}+hardfail@example.org",
        f"c-{tag}+hardfail@example.org",
    ]
    assert all(e["outcome"] == "failed" and e["smtp_code"] == 550 for e in events)
    assert report_requests(emulator) == 3
    assert (
        json.dumps(trigger.serialize()[1])
        == '{"conn_id": "xmailer_default", "poll_interval": 1.0, "lookback": 21600.0}'
    )


def test_a_restarted_trigger_skips_committed_failures_and_emits_the_uncommitted_one(
    xmailer_airflow_conn,
) -> None:
    emulator = xmailer_airflow_conn
    tag = uuid.uuid4().hex[:6]
    relay(emulator, f"a-{tag}+hardfail@example.org", f"b-{tag}+hardfail@example.org")
    emulator.advance(60)
    store = Store()
    first = XmailerFailureTrigger(conn_id="xmailer_default", poll_interval=1)
    first.asset_state_store = store
    emitted = collect(first, rounds=1, emulator=emulator)
    assert len(emitted) == 2
    store.commit(emitted[0])  # the triggerer died before the second event was committed
    relay(emulator, f"c-{tag}+hardfail@example.org")  # and a failure happened while it was down
    emulator.advance(60)
    second = XmailerFailureTrigger(conn_id="xmailer_default", poll_interval=1)
    second.asset_state_store = store
    again = collect(second, rounds=2, emulator=emulator)
    assert sorted(e["recipient"] for e in again) == sorted(
        [emitted[1]["recipient"], f"c-{tag}+hardfail@example.org"]
    )
    assert emitted[0]["failure_key"] not in {e["failure_key"] for e in again}


def test_the_password_is_not_in_the_kwargs_or_the_events(xmailer_airflow_conn) -> None:
    emulator = xmailer_airflow_conn
    relay(emulator, f"p-{uuid.uuid4().hex[:6]}+hardfail@example.org")
    emulator.advance(60)
    trigger = XmailerFailureTrigger(poll_interval=1)
    events = collect(trigger, rounds=1, emulator=emulator)
    assert emulator.password not in json.dumps([trigger.serialize(), events])
