"""A batch of 2,000 messages at a real network's round trip: the bulk operator against what a user
would write instead (a ``send_message`` loop, or one mapped task instance per message).

The Sender25 emulator runs in its own process with 50 ms injected per answer (concurrent requests
are not serialised), so the numbers are governed by the round trip, as over a real network, and
not by loopback speed.

* **bulk**: ``Sender25BulkSendOperator.execute()`` with a minimal task context (rendering,
  validation, the send ledger and the sends: everything the task does after it has started), and
  the same 2,000 rows as one task of a real scheduler + LocalExecutor run (the task's start-up
  included).
* **sequential**: ``Sender25Hook.send_message`` in a loop, measured on fewer messages and
  extrapolated linearly (each call is one round trip, so it is linear).
* **mapped**: ``Sender25SendEmailOperator.partial().expand(to=[...])`` run by a real scheduler and
  LocalExecutor (tests/real_services/harness.py) on ``MAPPED`` task instances; the wall time per
  task instance is extrapolated linearly to 2,000.
* **physical limit**: ``min(concurrency / round trip, rate limit)``, the round trip measured with a
  bare keep-alive ``http.client`` request in the same run.

``python -m bench.bulk_send --rss ROWS`` is the memory probe: it writes ROWS rows to a JSONL file,
runs the bulk operator over it in this fresh process and prints its peak RSS (``VmHWM``).
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench._common import API_KEY, ROOT, emulator_process, peak_rss_mb, run_isolated, sender25_conn_json

LATENCY = 0.05
MESSAGES = 2000
SEQUENTIAL = 200
MAPPED = 50
CONCURRENCY = 16
RATE_LIMIT = 100.0
RATE_LIMITED_MESSAGES = 1000
RSS_SIZES = (1000, 100_000)
DAGS = Path(__file__).with_name("dags")
FROM = "bench@example.com"
PATH = "/api/v1/send/message"


# -- the bulk operator: the one place that knows its call -----------------------------------------


def bulk_operator_class() -> Any:
    """``Sender25BulkSendOperator``, or ``None`` while it does not exist yet."""
    try:
        from airflow_provider_mail.operators.bulk import Sender25BulkSendOperator
    except ImportError:
        return None
    return Sender25BulkSendOperator


def make_rows(count: int, prefix: str = "r") -> list[dict[str, Any]]:
    """``count`` rows, each a recipient and the values its templates use."""
    return [{"to": f"{prefix}{n}@example.org", "name": f"Cliente {n}", "order": n} for n in range(count)]


def make_bulk(rows: list[dict[str, Any]] | str, concurrency: int = CONCURRENCY, task_id: str = "bulk") -> Any:
    """The bulk operator over ``rows`` (a list of dicts, or the path of a JSONL file).

    The expected call: rows with ``to``, subject and body templates rendered per row, a
    ``concurrency`` argument.
    """
    operator = bulk_operator_class()
    return operator(
        task_id=task_id,
        rows=rows,
        from_email=FROM,
        subject="Pedido {{ row.order }}",
        plain_body="Olá {{ row.name }}, seu pedido {{ row.order }} foi enviado.",
        concurrency=concurrency,
    )


def task_context(task_id: str = "bulk") -> dict[str, Any]:
    """What execute() needs of a running task instance (as the operator tests hand it)."""
    ti = SimpleNamespace(dag_id="bench", task_id=task_id, run_id=f"bench__{time.time_ns()}", map_index=-1)
    ti.try_number = 1
    return {"ti": ti, "ds": "2026-11-22", "params": {}, "run_id": ti.run_id}


def run_bulk(rows: list[dict[str, Any]] | str, concurrency: int = CONCURRENCY) -> Any:
    operator = make_bulk(rows, concurrency)
    context = task_context()
    operator.render_template_fields(context)
    return operator.execute(context)


# -- the measurements -----------------------------------------------------------------------------


def round_trip(base_url: str, count: int = 20) -> float:
    """Seconds of one bare keep-alive request/answer (the floor every client pays per send)."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port))
    body = json.dumps({"to": ["rtt@example.org"], "from": FROM, "subject": "rtt", "plain_body": "x"}).encode()
    headers = {"X-Server-API-Key": API_KEY, "Content-Type": "application/json"}
    started = time.perf_counter()
    for _ in range(count):
        connection.request("POST", PATH, body=body, headers=headers)
        connection.getresponse().read()
    connection.close()
    return (time.perf_counter() - started) / count


def sequential_loop(count: int) -> float:
    """Seconds for ``count`` ``send_message`` calls, one after the other, one hook."""
    from airflow_provider_mail.hooks.sender25 import Sender25Hook

    started = time.perf_counter()
    with Sender25Hook() as hook:
        for n in range(count):
            hook.send_message(
                to=[f"seq{n}@example.org"], from_email=FROM, subject=f"Pedido {n}", plain_body="hello"
            )
    return time.perf_counter() - started


def bulk_execute(count: int, concurrency: int = CONCURRENCY) -> dict[str, Any]:
    """Seconds of the bulk operator's execute() over ``count`` rows."""
    rows = make_rows(count, prefix=f"b{time.time_ns()}-")
    started = time.perf_counter()
    run_bulk(rows, concurrency)
    elapsed = time.perf_counter() - started
    return {"messages": count, "seconds": round(elapsed, 3), "per_second": round(count / elapsed, 1)}


def _parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def real_scheduler(base_url: str, mapped: int, bulk_messages: int) -> dict[str, Any]:
    """Mapped task instances, and the bulk operator as one task, under a real scheduler + LocalExecutor.

    The wall time of the mapped tasks runs from the end of the upstream task (the moment the
    scheduler can expand the map) to the end of the last mapped task instance.
    """
    from tests.real_services.harness import AirflowStack

    results: dict[str, Any] = {}
    home = Path(tempfile.mkdtemp(prefix="bench-af-"))
    env = {
        "AIRFLOW_CONN_SENDER25_DEFAULT": sender25_conn_json(base_url),
        "BENCH_BULK_CONCURRENCY": str(CONCURRENCY),
        # A shared 2-core machine: more parallel task processes than cores only adds contention.
        "AIRFLOW__CORE__PARALLELISM": "4",
    }
    began = time.monotonic()
    with AirflowStack(home, DAGS, env=env, pythonpath=[ROOT]) as stack:
        results["stack_start_seconds"] = round(time.monotonic() - began, 1)
        api = stack.client

        def instances(dag_id: str, run_id: str) -> list[dict[str, Any]]:
            response = api.http.get(
                f"{api.base}/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000}, timeout=30
            )
            response.raise_for_status()
            return response.json()["task_instances"]

        run_id = stack.trigger("bench_mapped_send", {"count": mapped})
        state = stack.wait_run("bench_mapped_send", run_id, timeout=600)
        tis = instances("bench_mapped_send", run_id)
        sends = [ti for ti in tis if ti["task_id"] == "send"]
        upstream = next(ti for ti in tis if ti["task_id"] == "recipients")
        span = max(_parse_time(ti["end_date"]) for ti in sends) - _parse_time(upstream["end_date"])
        per_instance = span / len(sends)
        results["mapped"] = {
            "state": state,
            "task_instances": len(sends),
            "succeeded": sum(ti["state"] == "success" for ti in sends),
            "seconds": round(span, 2),
            "seconds_per_task_instance": round(per_instance, 3),
            "mean_task_duration": round(sum(ti["duration"] or 0 for ti in sends) / len(sends), 3),
            "extrapolated_seconds": round(per_instance * MESSAGES, 1),
            "extrapolated_per_second": round(1 / per_instance, 2),
            "parallelism": 4,
        }
        if bulk_operator_class() is not None:
            run_id = stack.trigger("bench_bulk_send", {"count": bulk_messages})
            state = stack.wait_run("bench_bulk_send", run_id, timeout=600)
            tis = instances("bench_bulk_send", run_id)
            bulk = next(ti for ti in tis if ti["task_id"] == "bulk")
            upstream = next(ti for ti in tis if ti["task_id"] == "rows")
            span = _parse_time(bulk["end_date"]) - _parse_time(upstream["end_date"])
            results["bulk_task"] = {
                "state": state,
                "messages": bulk_messages,
                "seconds": round(span, 2),
                "task_duration": bulk["duration"],
                "per_second": round(bulk_messages / span, 1),
            }
    return results


def rss_probe(count: int) -> dict[str, Any]:
    """In this fresh process: ``count`` rows from a JSONL file through the bulk operator; peak RSS."""
    with emulator_process("sender25") as base_url:
        os.environ["AIRFLOW_CONN_SENDER25_DEFAULT"] = sender25_conn_json(base_url)
        os.environ.setdefault(
            "AIRFLOW__MAIL_PROVIDER__SEND_LEDGER", Path(tempfile.mkdtemp(prefix="bench-ledger-")).as_uri()
        )
        path = Path(tempfile.mkdtemp(prefix="bench-rows-")) / "rows.jsonl"
        with path.open("w") as out:
            for row in make_rows(count, prefix=f"m{count}-"):
                out.write(json.dumps(row) + "\n")
        run_bulk(make_rows(10, prefix="warm-"))  # imports and the first connection, before the baseline
        before = peak_rss_mb()
        started = time.perf_counter()
        run_bulk(str(path))
        elapsed = time.perf_counter() - started
    return {
        "rows": count,
        "seconds": round(elapsed, 2),
        "rows_per_second": round(count / elapsed, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "rss_before_mb": round(before, 1),
    }


def main() -> dict[str, Any]:
    results: dict[str, Any] = {
        "latency_seconds": LATENCY,
        "messages": MESSAGES,
        "concurrency": CONCURRENCY,
        "bulk_available": bulk_operator_class() is not None,
    }
    ledger = Path(tempfile.mkdtemp(prefix="bench-ledger-"))
    os.environ.setdefault("AIRFLOW__MAIL_PROVIDER__SEND_LEDGER", ledger.as_uri())
    with emulator_process("sender25", "--latency", str(LATENCY)) as base_url:
        os.environ["AIRFLOW_CONN_SENDER25_DEFAULT"] = sender25_conn_json(base_url)
        sequential_loop(5)  # warm-up: imports, the first connection
        rtt = round_trip(base_url)
        results["round_trip_seconds"] = round(rtt, 4)
        seq = sequential_loop(SEQUENTIAL)
        results["sequential"] = {
            "messages_measured": SEQUENTIAL,
            "seconds_measured": round(seq, 2),
            "per_second": round(SEQUENTIAL / seq, 1),
            "extrapolated_seconds": round(seq / SEQUENTIAL * MESSAGES, 1),
        }
        limit = CONCURRENCY / rtt
        results["physical_limit_per_second"] = round(limit, 1)
        if results["bulk_available"]:
            run_bulk(make_rows(20, prefix="warm-"))
            results["bulk"] = bulk_execute(MESSAGES)
        results["real_scheduler"] = real_scheduler(base_url, MAPPED, MESSAGES)
    if results["bulk_available"]:
        with emulator_process(
            "sender25", "--latency", str(LATENCY), "--rate-limit", str(RATE_LIMIT)
        ) as base_url:
            os.environ["AIRFLOW_CONN_SENDER25_DEFAULT"] = sender25_conn_json(base_url)
            limited = bulk_execute(RATE_LIMITED_MESSAGES)
            limited["physical_limit_per_second"] = round(min(limit, RATE_LIMIT), 1)
            limited["rate_limit"] = RATE_LIMIT
            results["bulk_rate_limited"] = limited
        results["rss"] = {str(size): run_isolated("bulk_send", "--rss", str(size)) for size in RSS_SIZES}
    results["ratios"] = ratios(results)
    return results


def ratios(results: dict[str, Any]) -> dict[str, float]:
    """The target ratios, from what was measured (absent when their measurement is)."""
    out: dict[str, float] = {}
    mapped = results.get("real_scheduler", {}).get("mapped")
    if mapped:
        out["sequential_over_mapped"] = round(
            results["sequential"]["per_second"] * mapped["seconds_per_task_instance"], 2
        )
    bulk = results.get("bulk")
    if not bulk:
        return out
    out["bulk_over_physical_limit"] = round(bulk["per_second"] / results["physical_limit_per_second"], 3)
    out["bulk_over_sequential"] = round(bulk["per_second"] / results["sequential"]["per_second"], 2)
    limited = results.get("bulk_rate_limited")
    if limited:
        out["rate_limited_bulk_over_physical_limit"] = round(
            limited["per_second"] / limited["physical_limit_per_second"], 3
        )
    bulk_task = results.get("real_scheduler", {}).get("bulk_task")
    if mapped and bulk_task:
        out["bulk_task_over_mapped"] = round(mapped["extrapolated_seconds"] / bulk_task["seconds"], 1)
    rss = results.get("rss")
    if rss:
        sizes = sorted(rss, key=int)
        out["rss_growth_mb"] = round(rss[sizes[-1]]["peak_rss_mb"] - rss[sizes[0]]["peak_rss_mb"], 1)
    return out


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--rss":
        print(json.dumps(rss_probe(int(sys.argv[2]))))
    else:
        print(json.dumps(main(), indent=2))
