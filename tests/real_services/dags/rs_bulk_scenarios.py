"""A bulk send whose first try dies mid-batch (SIGKILL, no cleanup), for the real-services tests.

``rs_sender25_bulk_kill`` sends ``params.count`` statements to ``c<n>-<params.tag>@example.org`` in
ledger chunks of ``CHUNK`` rows. On try 1, as soon as the first chunk is settled in the ledger, the
task process SIGKILLs itself: the scheduler marks the try failed and runs try 2 in a new process.
"""

from __future__ import annotations

import os
import signal
from datetime import datetime, timedelta
from typing import Any

from airflow_provider_mail._compat import DAG, task
from airflow_provider_mail.operators.bulk import Sender25BulkSendOperator

CHUNK = 20


class DiesAfterTheFirstChunk(Sender25BulkSendOperator):
    """Sender25BulkSendOperator that is killed on try 1 once its first chunk is recorded."""

    def execute(self, context: Any) -> Any:
        self._try_number = context["ti"].try_number
        return super().execute(context)

    def after_chunk(self, progress: Any) -> None:
        if self._try_number == 1:
            os.kill(os.getpid(), signal.SIGKILL)


with DAG(
    dag_id="rs_sender25_bulk_kill",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={"tag": "x", "count": 60},
    default_args={"retries": 1, "retry_delay": timedelta(seconds=2)},
    tags=["real_services"],
) as rs_sender25_bulk_kill:

    @task
    def statements(params: dict | None = None) -> list[dict]:
        params = params or {}
        return [{"n": n, "to": f"c{n}-{params['tag']}@example.org"} for n in range(int(params["count"]))]

    DiesAfterTheFirstChunk(
        task_id="send",
        rows=statements(),
        from_email="noreply@example.com",
        subject="Statement {{ row.n }}",
        plain_body="Hello {{ row.n }}.",
        ledger_chunk_size=CHUNK,
        max_concurrency=4,
    )
