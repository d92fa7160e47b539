"""Adaptive vs fixed-interval polling of the delivery gate: 10,000 Sender25 messages, a 15-minute wait.

``main()`` starts a Sender25 emulator in its own process with Postal-like timing (first attempt 10 s
after the send, a soft failure retried 300 s later as Postal's ``5 min * 1.3^0`` says, a late bounce 120
s after Sent), sends 10,000 messages over ~50 s of emulator time with a realistic mix (94 % Sent, 3 %
SoftFail then Sent, 1 % HardFail, 2 % Bounced inside the 300 s grace period), and runs the trigger's
poll loop (:class:`~airflow_provider_mail._delivery.schedule.DeliveryWatch` +
``Sender25DeliveryCheck.acheck`` of the due messages) on a simulated clock: each sleep advances the
emulator's clock instead of waiting. The loop watches every message to the 15-minute horizon (a real
``wait_for="all"`` gate would stop at the first HardFail; watching on exercises every state).

Fixed-interval polling (what the trigger did before: every message every round) is measured over
:data:`FIXED_ROUNDS` rounds for requests and CPU per round and projected to the horizon's
``900 / poke_interval`` rounds (its request count is exactly N per round plus the failure details).

Lateness: for every status change the loop saw, ``seen - visible`` where ``visible`` is the change's
delivery-row time; a bounce is also reported against the rule (``max(bounce, sent + grace)``).

``main()`` returns a dict: ``adaptive`` / ``fixed`` (``requests``, ``cpu_seconds``, rounds),
``request_ratio``, ``cpu_ratio``, ``worst_lateness_s`` (all changes except bounces),
``worst_bounce_lateness_vs_rule_s``, ``worst_bounce_lateness_raw_s`` and ``targets`` (each a bool).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from bench._common import API_KEY, ROOT, cpu_seconds, sender25_conn_json

N = 10_000
POKE_INTERVAL = 30.0
HORIZON = 900.0
GRACE = 300.0
FIXED_ROUNDS = 2


def _serve_emulator(ready: str) -> None:
    from airflow_provider_mail.testing import Sender25Emulator

    with Sender25Emulator(
        api_key=API_KEY, delivery_delay=10, retry_interval=300, softfail_attempts=1, bounce_delay=120
    ) as emu:
        Path(ready).write_text(emu.base_url)
        while True:
            time.sleep(3600)


class SimClock:
    """The emulator's clock mirrored locally: real time plus the offset this process advanced."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        if seconds > 0:
            requests.post(self.base_url + "/_emulator/advance", json={"seconds": seconds}, timeout=30)
            self.offset += seconds


def _recipient(i: int) -> str:
    tag = {0: "+softfail", 1: "+softfail", 2: "+softfail", 3: "+hardfail", 4: "+bounce", 5: "+bounce"}
    return f"r{i}{tag.get(i % 100, '')}@example.org"


def _send(clock: SimClock, count: int) -> dict[str, str | None]:
    from airflow_provider_mail.hooks.sender25 import Sender25Hook

    messages: dict[str, str | None] = {}
    with Sender25Hook() as hook:
        for start in range(0, count, 50):
            sent = hook.send_message(
                to=[_recipient(i) for i in range(start, min(count, start + 50))],
                from_email="bench@example.com",
                subject="gate",
                plain_body="x",
            )
            messages.update({str(e["id"]): r for r, e in sent["messages"].items()})
            if start % 1000 == 950:
                clock.advance(5.0)  # sends spread over ~50 s
    return messages


async def _loop(messages, clock: SimClock, *, adaptive: bool, max_rounds: int | None) -> dict:
    from airflow_provider_mail._delivery.checks import Sender25DeliveryCheck
    from airflow_provider_mail._delivery.policy import DeliveryPolicy, DeliveryStatus
    from airflow_provider_mail._delivery.schedule import DeliveryWatch

    policy = DeliveryPolicy(mode="all", bounce_grace_period=GRACE)
    check = Sender25DeliveryCheck("sender25_default", messages)
    watch = DeliveryWatch(list(messages), policy, POKE_INTERVAL, adaptive=adaptive)
    counted = {"n": 0}
    hook_cls = type(check.hook)
    original = hook_cls._acall

    async def counting(self, *args, **kwargs):
        counted["n"] += 1
        return await original(self, *args, **kwargs)

    hook_cls._acall = counting
    end = clock.now() + HORIZON
    lateness: list[float] = []
    bounce_raw: list[float] = []
    bounce_rule: list[float] = []
    delivered_at: dict[str, float] = {}
    rounds = 0
    cpu_start = cpu_seconds()
    try:
        while clock.now() < end and (max_rounds is None or rounds < max_rounds):
            now = clock.now()
            due = watch.due(now)
            before = {k: watch.outcomes.get(k) for k in due}
            outcomes = await check.acheck(due)
            seen = clock.now()
            for outcome in outcomes:
                old = before.get(outcome.key)
                if outcome.status is DeliveryStatus.DELIVERED and outcome.at is not None:
                    delivered_at.setdefault(outcome.key, outcome.at)
                changed = old is None or (old.status, old.at) != (outcome.status, outcome.at)
                if old is None or not changed or outcome.at is None:
                    continue
                if outcome.status is DeliveryStatus.BOUNCED:
                    bounce_raw.append(seen - outcome.at)
                    settle = delivered_at.get(outcome.key, outcome.at) + GRACE
                    bounce_rule.append(seen - max(outcome.at, settle))
                else:
                    lateness.append(seen - outcome.at)
            watch.record(outcomes, now)
            rounds += 1
            wake = watch.next_wake()
            if wake is None:
                break
            clock.advance(max(0.0, min(wake, end) - clock.now()))
    finally:
        hook_cls._acall = original
        await check.aclose()
    return {
        "rounds": rounds,
        "requests": counted["n"],
        "cpu_seconds": round(cpu_seconds() - cpu_start, 2),
        "worst_lateness_s": round(max(lateness, default=0.0), 1),
        "worst_bounce_lateness_vs_rule_s": round(max(bounce_rule, default=0.0), 1),
        "worst_bounce_lateness_raw_s": round(max(bounce_raw, default=0.0), 1),
        "changes_seen": len(lateness) + len(bounce_raw),
    }


def main(smoke: bool = False) -> dict:
    """Run the comparison; return the measured numbers, the ratios and whether each target was met.

    :param smoke: 100 messages instead of :data:`N`, to prove the benchmark runs.
    """
    count = 100 if smoke else N
    ready = Path(tempfile.mkdtemp(prefix="bench-gate-")) / "ready"
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.delivery_gate_adaptive", "--emulator", str(ready)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() or not ready.read_text().strip():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Sender25 emulator did not start")
            time.sleep(0.05)
        base_url = ready.read_text().strip()
        os.environ["AIRFLOW_CONN_SENDER25_DEFAULT"] = sender25_conn_json(base_url, timeout=120)
        clock = SimClock(base_url)
        messages = _send(clock, count)
        adaptive = asyncio.run(_loop(messages, clock, adaptive=True, max_rounds=None))
        measured = asyncio.run(_loop(messages, clock, adaptive=False, max_rounds=FIXED_ROUNDS))
    finally:
        process.terminate()
        process.wait(timeout=10)
    rounds = int(HORIZON // POKE_INTERVAL)
    fixed = {
        "rounds": rounds,
        "requests": round(measured["requests"] / FIXED_ROUNDS * rounds),
        "cpu_seconds": round(measured["cpu_seconds"] / FIXED_ROUNDS * rounds, 1),
        "measured_rounds": FIXED_ROUNDS,
        "cpu_seconds_per_round": round(measured["cpu_seconds"] / FIXED_ROUNDS, 2),
    }
    request_ratio = fixed["requests"] / max(1, adaptive["requests"])
    return {
        "messages": count,
        "poke_interval_s": POKE_INTERVAL,
        "horizon_s": HORIZON,
        "bounce_grace_period_s": GRACE,
        "adaptive": adaptive,
        "fixed": fixed,
        "request_ratio": round(request_ratio, 1),
        "cpu_ratio": round(fixed["cpu_seconds"] / max(0.01, adaptive["cpu_seconds"]), 1),
        "worst_lateness_s": adaptive["worst_lateness_s"],
        "targets": {
            ">= 5x fewer status requests": request_ratio >= 5,
            "no change seen later than one poke interval": adaptive["worst_lateness_s"] <= POKE_INTERVAL,
            "bounces seen within one interval of the grace period's end": (
                adaptive["worst_bounce_lateness_vs_rule_s"] <= POKE_INTERVAL
            ),
        },
    }


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--emulator":
        _serve_emulator(sys.argv[2])
    else:
        print(json.dumps(main(), indent=2))
