"""Delivery gate at scale: the trigger's kwargs at 100k messages, the first poke at 10k over 50 ms.

* **Trigger kwargs** (target: at most 8 KB whatever the batch, both services). Two ways a DAG hands a
  big batch to the gate: a bulk send's XCom (its ids paged into its own XComs, ``gate_ids``), and a
  mapped single send (one XCom per message, which the sensor pages into its own XComs before it
  defers). The pages go to a recording task instance (JSON, as XCom stores them); each page's size is
  reported too. ``inline_bytes`` is what the kwargs held before: every id.
* **Trigger event and sensor XCom** (target: at most 64 KB at 100k messages, both services, a gate
  that succeeded and one that failed with 1 % bounced): the trigger's final event for N outcomes, as
  the triggerer stores it in the task instance's ``next_kwargs`` (Airflow's serde), and the sensor's
  XCom after it resumed. Every outcome goes to XCom pages of the sensor's task instance (recorded
  here as JSON); ``inline_bytes_before`` is what the event carried before: every outcome.
* **First poke** (target: at most ``2 x N x latency / POLL_CONCURRENCY``): a deferrable
  ``Sender25DeliverySensor`` over N pending messages, the emulator (its own process) answering every
  request 50 ms late; the time from ``execute()`` to ``TaskDeferred``. One after the other it would
  take ``N x latency`` (``sequential_s``).

``main(smoke=True)`` runs tiny sizes in seconds (no targets judged).
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from bench._common import emulator_process, sender25_conn_json

FULL = {"kwargs_messages": 100_000, "event_messages": 100_000, "poke_messages": 10_000, "latency": 0.05}
SMOKE = {"kwargs_messages": 1_000, "event_messages": 1_000, "poke_messages": 200, "latency": 0.005}
KWARGS_TARGET_BYTES = 8 * 1024
EVENT_TARGET_BYTES = 64 * 1024


class RecordingTI:
    """A running task instance's identity and XCom pushes, stored as JSON (as XCom stores them)."""

    dag_id, run_id, task_id, map_index = "bench", "run", "gate", -1

    def __init__(self) -> None:
        self.xcoms: dict[str, str] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = json.dumps(value)


def _sends(service: str, count: int) -> list[dict[str, Any]]:
    if service == "sender25":
        return [
            {
                "message_id": f"m{i}@rp",
                "messages": {f"cliente{i}@example.org": {"id": 10_000_000 + i, "token": "t"}},
            }
            for i in range(count)
        ]
    return [
        {
            "queue_id": f"1grzDQ-{i:06d}-0o",
            "accepted": [f"cliente{i}@example.org"],
            "mail_from": "billing@example.com",
            "sent_at": "2026-01-01T00:00:00+00:00",
        }
        for i in range(count)
    ]


def _kwargs_bytes(service: str, source: dict[str, Any]) -> int:
    from airflow_provider_mail.triggers.delivery import DeliveryTrigger

    trigger = DeliveryTrigger(service=service, conn_id=f"{service}_default", source=source, policy={})
    return len(json.dumps(trigger.serialize()[1]))


def kwargs_sizes(count: int) -> dict[str, Any]:
    """Trigger kwargs for ``count`` messages per service, from a bulk XCom and from mapped sends."""
    from airflow_provider_mail._bulk.results import ResultsWriter
    from airflow_provider_mail._delivery.awaited import service_class
    from airflow_provider_mail._delivery.source import for_trigger, gate_source

    out: dict[str, Any] = {"messages": count, "target_bytes": KWARGS_TARGET_BYTES}
    for service in ("sender25", "xmailer"):
        kind = service_class(service)
        sends = _sends(service, count)
        # a bulk send: the operator's results writer pages the accepted ids into its XComs
        bulk_ti = RecordingTI()
        with ResultsWriter(os.devnull, ti=bulk_ti) as writer:
            for row, send in enumerate(sends):
                writer.write({"row": row, "status": "accepted", "to": [], **send})
        bulk_xcom = {
            "counts": {"accepted": count},
            "results_path": "/on/another/worker",
            "gate_ids": writer.gate_reference(),
        }
        bulk_bytes = _kwargs_bytes(service, gate_source(bulk_xcom, kind).as_json())
        # mapped single sends: the sensor pages them into its own XComs before it defers
        sensor_ti = RecordingTI()
        source = gate_source(sends, kind)
        awaited = source.read(kind)
        mapped_bytes = _kwargs_bytes(service, for_trigger(source, awaited, sensor_ti).as_json())
        inline = awaited.ids if service == "sender25" else awaited.as_dicts()  # type: ignore[union-attr]
        out[service] = {
            "bulk_kwargs_bytes": bulk_bytes,
            "mapped_sends_kwargs_bytes": mapped_bytes,
            "inline_bytes_before": len(json.dumps({"messages": inline})),
            "pages": len(bulk_ti.xcoms),
            "largest_page_bytes": max(
                len(text) for text in [*bulk_ti.xcoms.values(), *sensor_ti.xcoms.values()]
            ),
            "within_target": max(bulk_bytes, mapped_bytes) <= KWARGS_TARGET_BYTES,
        }
    return out


def _stored_event_bytes(payload: dict[str, Any]) -> int:
    """``next_kwargs`` with the event, as the triggerer stores it (serde on Airflow 3)."""
    try:
        from airflow.sdk.serde import serialize
    except ImportError:  # Airflow 2: the ExtendedJSON column's BaseSerialization
        from airflow.serialization.serialized_objects import BaseSerialization

        serialize = BaseSerialization.serialize
    return len(json.dumps(serialize({"event": payload})))


def _outcomes(service: str, count: int, *, bounced_every: int) -> list[Any]:
    from airflow_provider_mail._delivery.policy import DeliveryStatus, MessageOutcome

    detail = "550 5.1.1 <{}>: Recipient address rejected: User unknown in virtual mailbox table"
    out = []
    for n in range(count):
        bounced = bool(bounced_every) and n % bounced_every == 0
        recipient = f"cliente{n}@example.org"
        out.append(
            MessageOutcome(
                str(10_000_000 + n) if service == "sender25" else f"1grzDQ-{n:06d}-0o/{recipient}",
                recipient,
                DeliveryStatus.BOUNCED if bounced else DeliveryStatus.DELIVERED,
                ("Bounced" if bounced else "Sent")
                if service == "sender25"
                else ("Rejeitado" if bounced else "Entregue com sucesso"),
                1_767_225_600.0 + n,
                detail.format(recipient) if bounced else None,
            )
        )
    return out


def event_sizes(count: int) -> dict[str, Any]:
    """The trigger's final event and the sensor's XCom for ``count`` outcomes, per service and verdict."""
    import asyncio

    from airflow_provider_mail import _compat
    from airflow_provider_mail._delivery.policy import DeliveryPolicy, judge
    from airflow_provider_mail.exceptions import DeliveryFailedError
    from airflow_provider_mail.sensors.delivery import Sender25DeliverySensor, XmailerDeliverySensor
    from airflow_provider_mail.triggers.delivery import DeliveryTrigger

    out: dict[str, Any] = {"messages": count, "target_bytes": EVENT_TARGET_BYTES}
    ti = RecordingTI()
    real_set_xcom = _compat.set_xcom
    # the trigger writes its pages through Airflow: recorded here as the JSON XCom stores
    _compat.set_xcom = lambda **kw: ti.xcom_push(kw["key"], kw["value"])  # type: ignore[assignment]
    try:
        for service, sensor_class in (
            ("sender25", Sender25DeliverySensor),
            ("xmailer", XmailerDeliverySensor),
        ):
            for case, bounced_every in (("success", 0), ("failure_1pct_bounced", 100)):
                ti.xcoms.clear()
                verdict = judge(
                    _outcomes(service, count, bounced_every=bounced_every), DeliveryPolicy(), now=2e9
                )
                trigger = DeliveryTrigger(
                    service=service,
                    conn_id="c",
                    source={},
                    policy={},
                    outcome_pages={"dag_id": "bench", "run_id": "run", "task_id": "gate", "map_index": -1},
                )
                started = time.perf_counter()
                event = asyncio.run(trigger.final_event(verdict, 1))
                write_s = time.perf_counter() - started
                sensor = sensor_class(task_id="gate", messages=[1])
                try:
                    result = sensor.execute_complete({"ti": ti}, event)  # type: ignore[arg-type]
                except DeliveryFailedError:  # a failed gate raises; the event's result is its summary
                    result = event["result"]
                event_bytes = _stored_event_bytes(event)
                out[f"{service}_{case}"] = {
                    "event_bytes": event_bytes,
                    "xcom_bytes": len(json.dumps(result)),
                    "inline_bytes_before": _stored_event_bytes({**event, "outcomes": verdict.xcom()}),
                    "outcome_pages": len(ti.xcoms),
                    "largest_page_bytes": max((len(t) for t in ti.xcoms.values()), default=0),
                    "pages_written_s": round(write_s, 2),
                    "within_target": max(event_bytes, len(json.dumps(result))) <= EVENT_TARGET_BYTES,
                }
    finally:
        _compat.set_xcom = real_set_xcom  # type: ignore[assignment]
    return out


def _send_messages(count: int) -> dict[str, Any]:
    from airflow_provider_mail.hooks.sender25 import Sender25Hook

    def batch(start: int) -> dict[str, Any]:
        with Sender25Hook() as hook:
            return hook.send_message(
                to=[f"r{start + i}@example.org" for i in range(min(50, count - start))],
                from_email="bench@example.com",
                subject="gate",
                plain_body="x",
            )

    with ThreadPoolExecutor(8) as pool:
        sent = list(pool.map(batch, range(0, count, 50)))
    return {"messages": {rcpt: entry for one in sent for rcpt, entry in one["messages"].items()}}


def first_poke(count: int, latency: float) -> dict[str, Any]:
    """Seconds from a deferrable sensor's ``execute()`` to its deferral, over ``count`` pending messages."""
    from airflow_provider_mail._compat import TaskDeferred
    from airflow_provider_mail._delivery.checks import POLL_CONCURRENCY
    from airflow_provider_mail.sensors.delivery import Sender25DeliverySensor

    with emulator_process("sender25", "--delivery-delay", "3600") as base_url:
        os.environ["AIRFLOW_CONN_SENDER25_DEFAULT"] = sender25_conn_json(base_url, timeout=60)
        sent = _send_messages(count)
        requests.post(
            f"{base_url}/_emulator/network", json={"latency": latency}, timeout=10
        ).raise_for_status()
        sensor = Sender25DeliverySensor(
            task_id="wait", messages=sent, poke_interval=60, timeout=3600, deferrable=True
        )
        started = time.perf_counter()
        try:
            sensor.execute({"ti": RecordingTI()})  # type: ignore[arg-type]
            deferred = False
        except TaskDeferred:
            deferred = True
        seconds = time.perf_counter() - started
    target = 2 * count * latency / POLL_CONCURRENCY
    return {
        "messages": count,
        "latency_s": latency,
        "concurrency": POLL_CONCURRENCY,
        "seconds": round(seconds, 2),
        "target_s": round(target, 2),
        "ideal_s": round(count * latency / POLL_CONCURRENCY, 2),
        "sequential_s": round(count * latency, 1),
        "deferred": deferred,
        "within_target": deferred and seconds <= target,
    }


def main(smoke: bool = False) -> dict:
    sizes = SMOKE if smoke else FULL
    result: dict[str, Any] = {
        "smoke": smoke,
        "kwargs": kwargs_sizes(sizes["kwargs_messages"]),
        "event": event_sizes(sizes["event_messages"]),
        "first_poke": first_poke(sizes["poke_messages"], sizes["latency"]),
    }
    if not smoke:
        result["targets"] = {
            "trigger kwargs <= 8 KB at 100k messages, both services": all(
                result["kwargs"][service]["within_target"] for service in ("sender25", "xmailer")
            ),
            "trigger event and sensor XCom <= 64 KB at 100k messages, both services": all(
                value["within_target"] for value in result["event"].values() if isinstance(value, dict)
            ),
            "first poke at 10k over 50 ms <= 2 x 10k x 50 ms / concurrency": result["first_poke"][
                "within_target"
            ],
        }
    return result


if __name__ == "__main__":
    print(json.dumps(main(smoke="--smoke" in sys.argv), indent=2))
