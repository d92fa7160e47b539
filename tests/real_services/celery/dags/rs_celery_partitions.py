"""``rs_celery_partitions``: one list of rows sent by four mapped partitions, one ``rate_limit`` for
the whole task (tests/real_services/celery/test_celery_scale.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow_provider_mail._compat import DAG, task
from airflow_provider_mail.operators.bulk import Sender25BulkSendOperator

PARTITIONS = 4
RATE_LIMIT = 50


@task
def statements(params: dict | None = None) -> list[dict]:
    params = params or {}
    return [{"n": n, "to": f"c{n}-{params['tag']}@example.org"} for n in range(int(params["count"]))]


with DAG(
    dag_id="rs_celery_partitions",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={"tag": "x", "count": 400},
    default_args={"retries": 1, "retry_delay": timedelta(seconds=2)},
    tags=["real_services", "celery"],
) as rs_celery_partitions:
    # The documented one line: the same rows, PARTITIONS mapped instances, one rate for the task.
    Sender25BulkSendOperator.partial(
        task_id="send",
        rows=statements.override(queue="rs_a")(),
        from_email="noreply@example.com",
        subject="Statement {{ row.n }}",
        plain_body="Hello {{ row.n }}.",
        rate_limit=RATE_LIMIT,
        queue="default",
    ).expand(partition=[(index, PARTITIONS) for index in range(PARTITIONS)])
