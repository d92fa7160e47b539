"""The benchmark's DAGs, run by a real scheduler + LocalExecutor (bench/bulk_send.py).

``bench_mapped_send``: one Sender25 message per mapped task instance, ``.partial().expand(to=[...])``
over a list made upstream from ``dag_run.conf["count"]``: what a user writes without a bulk operator.
``bench_bulk_send``: the same messages as rows of one bulk task (when the bulk operator exists).
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow_provider_mail._compat import dag, task
from airflow_provider_mail.operators.sender25 import Sender25SendEmailOperator


@dag(dag_id="bench_mapped_send", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def bench_mapped_send():
    @task
    def recipients(dag_run=None) -> list[str]:
        count = int(dag_run.conf.get("count", 50))
        return [f"mapped{number}@example.org" for number in range(count)]

    Sender25SendEmailOperator.partial(
        task_id="send",
        from_email="bench@example.com",
        subject="Benchmark",
        plain_body="hello",
    ).expand(to=recipients())


bench_mapped_send()

try:
    from airflow_provider_mail.operators.bulk import Sender25BulkSendOperator
except ImportError:  # the bulk operator is not there yet: only the mapped DAG
    Sender25BulkSendOperator = None

if Sender25BulkSendOperator is not None:

    @dag(dag_id="bench_bulk_send", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
    def bench_bulk_send():
        @task
        def rows(dag_run=None) -> list[dict]:
            count = int(dag_run.conf.get("count", 2000))
            return [{"to": f"bulk{n}@example.org", "name": f"Cliente {n}", "order": n} for n in range(count)]

        Sender25BulkSendOperator(
            task_id="bulk",
            rows=rows(),
            from_email="bench@example.com",
            subject="Pedido {{ row.order }}",
            plain_body="Olá {{ row.name }}, seu pedido {{ row.order }} foi enviado.",
            max_concurrency=int(os.environ.get("BENCH_BULK_CONCURRENCY", "16")),
        )

    bench_bulk_send()
