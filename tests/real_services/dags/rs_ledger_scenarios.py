"""Bulk sends whose tries meet the ledger's edges, for the real-services tests (issue 15, items 1-3).

For each service (``sender25``, ``xmailer``), ``CHUNK``-row ledger chunks, and markers in
``$RS_MARKER_DIR/<dag_id>/<run_id>/`` (see ``rs_send_scenarios``):

* ``rs_<service>_bulk_edit``: rows from the JSONL file ``params.rows_file``; a bad row fails try 1
  (retried after ``EDIT_RETRY_DELAY``: the test edits the file meanwhile).
* ``rs_<service>_bulk_restart``: ``retries=0``; try 1 writes ``try1.chunk`` after its first chunk and
  waits: the test clears the running task instance (Airflow 3.3: ``restarting``).
* ``rs_<service>_bulk_frozen``: the ledger in a directory (``file://``); try 1 writes ``try1.chunk``
  (and its supervisor's pid in ``try1.supervisor``) after its first chunk and waits for the file
  ``resume``: the test freezes it (SIGSTOP) until the retry runs; try 2 writes ``try2.chunk`` after
  its first chunk and waits for ``go``. Each try writes ``try<N>.ended`` with how it ended.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow_provider_mail._compat import DAG, task
from airflow_provider_mail.operators.bulk import Sender25BulkSendOperator, XmailerBulkSendOperator
from tests.real_services.dags.rs_send_scenarios import _marker

CHUNK = 10
EDIT_RETRY_DELAY = timedelta(seconds=8)
WAIT_SECONDS = 600


def _folder(context: Any) -> Path:
    ti = context["ti"]
    return Path(os.environ["RS_MARKER_DIR"]) / ti.dag_id / ti.run_id


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)


class _Scripted:
    """Mixin of the scripted bulk operators: markers and waits after the first chunk of a try."""

    scenario = ""

    def execute(self, context: Any) -> Any:
        self._context, self._chunks = context, 0
        _marker(context, "started", str(os.getpid()))
        try:
            result = super().execute(context)  # type: ignore[misc]
        except BaseException as err:
            _marker(context, "ended", f"{type(err).__name__}: {err}")
            raise
        _marker(context, "ended", "success")
        return result

    def after_chunk(self, progress: Any) -> None:
        self._chunks += 1
        context = self._context
        try_number = context["ti"].try_number
        if self._chunks != 1:
            return
        if self.scenario == "restart" and try_number == 1:
            _marker(context, "chunk", str(os.getpid()))
            time.sleep(WAIT_SECONDS)  # the clear ends this try
        elif self.scenario == "frozen" and try_number == 1:
            _marker(context, "supervisor", str(os.getppid()))
            _marker(context, "chunk", str(os.getpid()))
            _wait_for(_folder(context) / "resume")
        elif self.scenario == "frozen" and try_number == 2:
            _marker(context, "chunk", str(os.getpid()))
            _wait_for(_folder(context) / "go")


# `execute` on the classes themselves: Airflow 2 wraps each operator class's own `execute`.
class ScriptedSender25Bulk(_Scripted, Sender25BulkSendOperator):
    """Sender25BulkSendOperator with scripted tries."""

    def __init__(self, *, scenario: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario

    def execute(self, context: Any) -> Any:
        return _Scripted.execute(self, context)


class ScriptedXmailerBulk(_Scripted, XmailerBulkSendOperator):
    """XmailerBulkSendOperator with scripted tries."""

    def __init__(self, *, scenario: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario

    def execute(self, context: Any) -> Any:
        return _Scripted.execute(self, context)


OPERATORS = {
    "sender25": (ScriptedSender25Bulk, "noreply@example.com"),
    "xmailer": (ScriptedXmailerBulk, "app@example.com"),
}
SCENARIOS: dict[str, dict[str, Any]] = {
    "edit": {"retries": 1, "retry_delay": EDIT_RETRY_DELAY},
    "restart": {"retries": 0, "retry_delay": timedelta(seconds=1)},
    "frozen": {"retries": 1, "retry_delay": timedelta(seconds=1)},
}


@task
def numbered_rows(params: dict | None = None) -> list[dict]:
    params = params or {}
    return [{"n": n, "to": f"c{n}-{params['tag']}@example.org"} for n in range(int(params["count"]))]


for _service, (_operator, _sender) in OPERATORS.items():
    for _scenario, _defaults in SCENARIOS.items():
        with DAG(
            dag_id=f"rs_{_service}_bulk_{_scenario}",
            schedule=None,
            start_date=datetime(2026, 1, 1),
            catchup=False,
            max_active_runs=1,
            params={"tag": "x", "count": 3 * CHUNK, "rows_file": "/nonexistent.jsonl"},
            default_args=_defaults,
            tags=["real_services"],
        ) as _dag:
            _kwargs: dict[str, Any] = {}
            if _scenario == "frozen":
                _kwargs["ledger"] = Path(os.environ.get("RS_MARKER_DIR", "/tmp"), "ledger").as_uri()
            _operator(
                task_id="send",
                scenario=_scenario,
                rows="{{ params.rows_file }}" if _scenario == "edit" else numbered_rows(),
                from_email=_sender,
                subject="Statement {{ row.n }}",
                plain_body="Hello {{ row.n }}.",
                ledger_chunk_size=CHUNK,
                max_concurrency=2,
                **_kwargs,
            )
        globals()[_dag.dag_id] = _dag
