"""Delivery gate at scale: N deferred triggers in one asyncio loop (as the triggerer runs them).

``main`` sends N messages to a Sender25 emulator in its own process (delivery an hour away, so every
trigger keeps waiting), then runs N ``DeliveryTrigger`` instances — one message each, as N sensors
would defer them — in one loop, in a fresh process, and measures peak RSS, CPU seconds and HTTP
requests per poll round. Poke mode is expressed as worker-slot-seconds from a measured poke.
For xmailer it counts report requests per poll round for a batch.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import requests

from bench._common import (
    cpu_seconds,
    emulator_process,
    peak_rss_mb,
    run_isolated,
    sender25_conn_json,
    xmailer_conn_json,
)

POLL_INTERVAL = 1.0
ROUNDS = 3


def send_messages(count: int) -> list[int]:
    from airflow_provider_mail.hooks.sender25 import Sender25Hook

    ids: list[int] = []
    with Sender25Hook() as hook:
        while len(ids) < count:
            batch = min(50, count - len(ids))
            sent = hook.send_message(
                to=[f"r{len(ids) + i}@example.org" for i in range(batch)],
                from_email="bench@example.com",
                subject="gate",
                plain_body="x",
            )
            ids.extend(entry["id"] for entry in sent["messages"].values())
    return ids


def triggers_in_one_loop(base_url: str, ids: list[int]) -> dict:
    """Run in a fresh process: N triggers, ROUNDS poll rounds, then cancel them (they would wait on)."""
    from airflow_provider_mail._transport.async_driver import AsyncHttpDriver
    from airflow_provider_mail.triggers.delivery import DeliveryTrigger

    os.environ["AIRFLOW_CONN_SENDER25_DEFAULT"] = sender25_conn_json(base_url, timeout=120)
    sent = {"requests": 0}
    send = AsyncHttpDriver.send

    async def counted(self, request):  # count HTTP requests without asking the emulator (cheap)
        sent["requests"] += 1
        return await send(self, request)

    AsyncHttpDriver.send = counted  # type: ignore[method-assign]
    triggers = [
        DeliveryTrigger(
            service="sender25",
            conn_id="sender25_default",
            source={"inline": [i]},
            policy={"mode": "all", "fail_on_held": True, "bounce_grace_period": 0.0},
            poll_interval=POLL_INTERVAL,
        )
        for i in ids
    ]
    before_rss = peak_rss_mb()

    async def drive() -> dict:
        tasks = [asyncio.create_task(_drain(trigger)) for trigger in triggers]
        await asyncio.sleep(0)
        while sent["requests"] < len(ids):  # the first round: connections fetched, clients created
            await asyncio.sleep(0.05)
        requests_before, cpu_before, started = sent["requests"], cpu_seconds(), time.monotonic()
        while sent["requests"] < requests_before + len(ids) * ROUNDS:
            await asyncio.sleep(0.05)
        elapsed, cpu = time.monotonic() - started, cpu_seconds() - cpu_before
        made = sent["requests"] - requests_before
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return {
            "rounds": ROUNDS,
            "requests": made,
            "seconds": round(elapsed, 2),
            "cpu_seconds": round(cpu, 2),
        }

    measured = asyncio.run(drive())
    rounds = measured["requests"] / len(ids)
    return {
        "waits": len(ids),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "rss_before_triggers_mb": round(before_rss, 1),
        "requests_per_round": round(measured["requests"] / rounds),
        "cpu_seconds_per_round": round(measured["cpu_seconds"] / rounds, 3),
        "seconds_per_round": round(measured["seconds"] / rounds, 2),
    }


async def _drain(trigger) -> None:
    async for _ in trigger.run():
        return


def poke_cost(base_url: str, message_id: int) -> float:
    """Seconds one sync poke of one message takes (what a worker slot holds per poke)."""
    from airflow_provider_mail._delivery.checks import Sender25DeliveryCheck

    os.environ["AIRFLOW_CONN_SENDER25_DEFAULT"] = sender25_conn_json(base_url)
    check = Sender25DeliveryCheck("sender25_default", {str(message_id): None})
    check.check()
    started = time.perf_counter()
    for _ in range(20):
        check.check()
    return (time.perf_counter() - started) / 20


def xmailer_requests_per_round(batch: int) -> dict:
    from airflow_provider_mail._delivery.checks import XmailerDeliveryCheck
    from airflow_provider_mail._delivery.policy import xmailer_targets
    from airflow_provider_mail._shared.mime import build_email_message
    from airflow_provider_mail.hooks.xmailer import XmailerSmtpHook

    with emulator_process("xmailer") as base_url:
        os.environ["AIRFLOW_CONN_XMAILER_DEFAULT"] = xmailer_conn_json(
            base_url,
            smtp_host="127.0.0.1",
            smtp_port=int(
                requests.get(base_url + "/_emulator/health", timeout=10).json().get("smtp_port", 0)
            ),
            smtp_tls="none",
        )
        sent = [
            XmailerSmtpHook().send(
                build_email_message(
                    to=[f"x{b}-{i}@example.org" for i in range(50)],
                    from_email="bench@example.com",
                    subject="g",
                    plain_body="x",
                )
            )
            for b in range(batch // 50)
        ]
        check = XmailerDeliveryCheck("xmailer_default", xmailer_targets(sent))
        before = len(requests.get(base_url + "/_emulator/requests", timeout=30).json())
        for _ in range(ROUNDS):
            check.check()
        after = len(requests.get(base_url + "/_emulator/requests", timeout=30).json())
    return {"deliveries": batch, "rounds": ROUNDS, "report_requests_per_round": (after - before) / ROUNDS}


def main(sizes: tuple[int, ...] = (1000, 10000), smoke: bool = False) -> dict:
    """Deferred waits and pokes at each size (``smoke``: 20 waits, to prove the benchmark runs)."""
    sizes = (20,) if smoke else sizes
    results: dict = {"deferred": {}, "poke_mode": {}}
    with emulator_process("sender25", "--delivery-delay", "3600") as base_url:
        os.environ["AIRFLOW_CONN_SENDER25_DEFAULT"] = sender25_conn_json(base_url)
        ids = send_messages(max(sizes))
        for size in sizes:
            results["deferred"][str(size)] = run_isolated(
                "delivery_gate", "--triggers", base_url, json.dumps(ids[:size]), timeout=900
            )
        per_poke = poke_cost(base_url, ids[0])
    wait_seconds, poke_interval = 900, 60  # a 15-minute delivery, checked every minute
    for size in sizes:
        results["poke_mode"][str(size)] = {
            "seconds_per_poke": round(per_poke, 4),
            "poke_mode_slot_seconds": size * wait_seconds,
            "reschedule_mode_slot_seconds": round(size * (wait_seconds / poke_interval) * per_poke, 1),
            "deferrable_worker_slot_seconds": round(size * per_poke, 1),
            "assumed_wait_seconds": wait_seconds,
        }
    results["xmailer"] = xmailer_requests_per_round(100 if smoke else 1000)
    return results


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--triggers":
        print(json.dumps(triggers_in_one_loop(sys.argv[2], json.loads(sys.argv[3]))))
    else:
        print(json.dumps(main(tuple(int(a) for a in sys.argv[1:]) or (1000, 10000))))
