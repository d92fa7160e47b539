"""DAGs for the CeleryExecutor tests (tests/real_services/celery/).

Queues: ``rs_a`` runs on worker A only, ``rs_b`` on worker B only, ``default`` on either (a retry
after a worker is lost goes there). Markers (``$RS_MARKER_DIR/<dag_id>/<run_id>/try<N>.<event>``)
hold ``<worker> <pid>``, so a test knows which "machine" to kill.

* ``rs_celery_send_stall``: one send; try 1 sends, writes ``try1.sent`` and stalls (the test kills
  its worker).
* ``rs_celery_bulk_kill``: a bulk of ``params.count`` rows in ledger chunks of ``CHUNK``; try 1
  writes ``try1.chunk`` after its first chunk is recorded and stalls (the test kills its worker).
* ``rs_celery_held_gate``: one send to a Held recipient on worker A, then a deferrable gate on
  worker B that waits (``fail_on_held=False``) until the test releases the message.
* ``rs_celery_big_gate``: a bulk on worker A above ``xcom_ids_limit``; its gate on worker B.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow_provider_mail._compat import DAG, task
from airflow_provider_mail.operators.bulk import Sender25BulkSendOperator
from airflow_provider_mail.operators.sender25 import Sender25SendEmailOperator
from airflow_provider_mail.sensors.delivery import Sender25DeliverySensor

CHUNK = 20
STALL_SECONDS = 600
DEFAULTS = {"retries": 1, "retry_delay": timedelta(seconds=2)}


def marker(context: Any, name: str) -> None:
    """Write ``try<N>.<name>`` holding ``<worker> <pid>`` (atomically: the test never reads half)."""
    ti = context["ti"]
    folder = Path(os.environ["RS_MARKER_DIR"]) / ti.dag_id / ti.run_id
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".try{ti.try_number}.{name}"
    temporary.write_text(f"{os.environ.get('RS_HOSTNAME', '?')} {os.getpid()}")
    temporary.rename(folder / f"try{ti.try_number}.{name}")


class StallingSend(Sender25SendEmailOperator):
    """Sends; on try 1 then says so and stalls until its worker is killed."""

    def execute(self, context: Any) -> Any:
        result = super().execute(context)
        if context["ti"].try_number == 1:
            marker(context, "sent")
            time.sleep(STALL_SECONDS)
        return result


class StallingBulk(Sender25BulkSendOperator):
    """A bulk send that, on try 1, says so after its first chunk is recorded and stalls."""

    def execute(self, context: Any) -> Any:
        self._context = context
        return super().execute(context)

    def after_chunk(self, progress: Any) -> None:
        if self._context["ti"].try_number == 1:
            marker(self._context, "chunk")
            time.sleep(STALL_SECONDS)


@task
def statements(params: dict | None = None) -> list[dict]:
    params = params or {}
    return [{"n": n, "to": f"c{n}-{params['tag']}@example.org"} for n in range(int(params["count"]))]


def _dag(dag_id: str, **params: Any) -> DAG:
    return DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=1,
        params=params,
        default_args=DEFAULTS,
        tags=["real_services", "celery"],
    )


with _dag("rs_celery_send_stall", to="nobody@example.org") as rs_celery_send_stall:
    StallingSend(
        task_id="send",
        to="{{ params.to }}",
        from_email="noreply@example.com",
        subject="rs celery {{ run_id }}",
        plain_body="Hello from a Celery worker.",
        queue="default",
    )

with _dag("rs_celery_bulk_kill", tag="x", count=3 * CHUNK) as rs_celery_bulk_kill:
    StallingBulk(
        task_id="send",
        rows=statements.override(queue="default")(),
        from_email="noreply@example.com",
        subject="Statement {{ row.n }}",
        plain_body="Hello {{ row.n }}.",
        ledger_chunk_size=CHUNK,
        max_concurrency=4,
        queue="default",
    )

with _dag("rs_celery_held_gate", to="nobody+held@example.org") as rs_celery_held_gate:
    held = Sender25SendEmailOperator(
        task_id="send",
        to="{{ params.to }}",
        from_email="noreply@example.com",
        subject="rs held {{ run_id }}",
        plain_body="Held until the test releases it.",
        queue="rs_a",
    )
    Sender25DeliverySensor(
        task_id="gate",
        messages=held.output,
        fail_on_held=False,
        deferrable=True,
        poke_interval=1,
        timeout=600,
        queue="rs_b",
    )

with _dag("rs_celery_big_gate", tag="x", count=1500, xcom_ids_limit=100) as rs_celery_big_gate:
    big = Sender25BulkSendOperator(
        task_id="send",
        rows=statements.override(queue="rs_a")(),
        from_email="noreply@example.com",
        subject="Statement {{ row.n }}",
        plain_body="Hello {{ row.n }}.",
        xcom_ids_limit=100,
        queue="rs_a",
    )
    Sender25DeliverySensor(
        task_id="gate",
        messages=big.output,
        poke_interval=2,
        timeout=600,
        mode="poke",
        deferrable=False,
        queue="rs_b",
    )
