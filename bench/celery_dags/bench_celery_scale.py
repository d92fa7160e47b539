"""DAGs of bench/celery_scale.py: one bulk over a JSONL file, on one Celery worker or on two.

* ``bench_celery_one``: the whole file as one task instance on worker A (queue ``rs_a``);
* ``bench_celery_two``: the same file as ``params.partitions`` mapped partitions on the shared
  queue, with one slot per worker: each worker runs one partition.
"""

from __future__ import annotations

from datetime import datetime

from airflow_provider_mail._compat import DAG
from airflow_provider_mail.operators.bulk import Sender25BulkSendOperator

PARTITIONS = 2
COMMON = {
    "task_id": "send",
    "rows": "{{ params.rows }}",
    "from_email": "bench@example.com",
    "subject": "Statement {{ row.n }}",
    "plain_body": "Hello {{ row.n }}.",
    "rate_limit": 400,
    "retries": 0,
}


def _dag(dag_id: str) -> DAG:
    return DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=1,
        params={"rows": "/nonexistent.jsonl"},
        tags=["bench"],
    )


with _dag("bench_celery_one") as bench_celery_one:
    Sender25BulkSendOperator(queue="rs_a", **COMMON)

with _dag("bench_celery_two") as bench_celery_two:
    Sender25BulkSendOperator.partial(queue="default", **COMMON).expand(
        partition=[(index, PARTITIONS) for index in range(PARTITIONS)]
    )
