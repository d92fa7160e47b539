"""A bulk send, its results file gone (the gate's worker cannot see it), and a deferrable gate whose
trigger resolves the awaited ids from XCom pages in the real triggerer, for the real-services tests.

``rs_sender25_gate_pages`` sends ``params.count`` messages to ``g<n>-<params.tag>@example.org`` with a
small ``xcom_ids_limit``, deletes the results file, then waits for delivery with a bounce grace period
(20 s: the first poke defers, delivered but not yet settled). The gate logs its trigger's kwargs size.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

from airflow_provider_mail._compat import DAG, task
from airflow_provider_mail.operators.bulk import Sender25BulkSendOperator
from airflow_provider_mail.sensors.delivery import Sender25DeliverySensor


class MeasuredGate(Sender25DeliverySensor):
    """Logs the size of the kwargs its trigger is stored with."""

    def build_trigger(self, *args: Any) -> Any:
        trigger = super().build_trigger(*args)
        self.log.info("TRIGGER_KWARGS_BYTES=%d", len(json.dumps(trigger.serialize()[1])))
        return trigger


with DAG(
    dag_id="rs_sender25_gate_pages",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={"tag": "x", "count": 120, "results": "/tmp/rs-gate-results.jsonl"},
    tags=["real_services"],
) as rs_sender25_gate_pages:

    @task
    def rows(params: dict | None = None) -> list[dict]:
        params = params or {}
        return [{"n": n, "to": f"g{n}-{params['tag']}@example.org"} for n in range(int(params["count"]))]

    send = Sender25BulkSendOperator(
        task_id="send",
        rows=rows(),
        from_email="noreply@example.com",
        subject="Statement {{ row.n }}",
        plain_body="Hello {{ row.n }}.",
        xcom_ids_limit=10,
        max_concurrency=4,
        results_path="{{ params.results }}",
    )

    @task
    def on_another_worker(params: dict | None = None) -> None:
        os.remove((params or {})["results"])  # the gate's worker never sees the bulk worker's disk

    gate = MeasuredGate(
        task_id="gate",
        messages=send.output,
        deferrable=True,
        poke_interval=1,
        bounce_grace_period=20,
        timeout=180,
    )
    send >> on_another_worker() >> gate
