"""Send DAGs whose first try goes wrong on purpose, for the real-services tests.

One DAG per service and scenario, ``rs_<service>_<scenario>``; the recipients come from
``params.to`` (comma separated, unique per test run). On **try 1** the send task:

* ``plain``: just sends (the clear test);
* ``stall``: sends, writes ``try1.sent`` (its pid) and sleeps: the test SIGKILLs it;
* ``inflight`` / ``inflight_resend``: writes ``try1.started`` and sends; the test makes the
  emulator hold the answer and SIGKILLs the task while the request is in flight (``_resend``
  passes ``on_unknown_outcome="resend"``, created only when the operator has that argument);
* ``raise``: sends, then raises;
* ``timeout``: has a 4 s ``execution_timeout``; the test delays the send's answer past it.

Every try writes ``try<N>.started`` with its pid first. Markers live in
``$RS_MARKER_DIR/<dag_id>/<run_id>/``. Later tries behave normally: what they do is the product's.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow_provider_mail._compat import DAG
from airflow_provider_mail.operators.sender25 import Sender25SendEmailOperator
from airflow_provider_mail.operators.xmailer import XmailerSendEmailOperator

STALL_SECONDS = 600
EXECUTION_TIMEOUT = timedelta(seconds=4)


def _marker(context: Any, name: str, text: str) -> None:
    ti = context["ti"]
    folder = Path(os.environ["RS_MARKER_DIR"]) / ti.dag_id / ti.run_id
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".try{ti.try_number}.{name}"
    temporary.write_text(text)
    temporary.rename(folder / f"try{ti.try_number}.{name}")  # the test never reads half a file


def staged_execute(scenario: str, context: Any, send: Callable[[Any], Any]) -> Any:
    """Run the real operator's ``execute`` (``send``) with the failure ``scenario`` on try 1."""
    _marker(context, "started", str(os.getpid()))
    result = send(context)
    if context["ti"].try_number == 1:
        if scenario == "stall":
            _marker(context, "sent", str(os.getpid()))
            time.sleep(STALL_SECONDS)
        elif scenario == "raise":
            raise RuntimeError("rs: failing on purpose after the send returned")
    return result


# `execute` is defined on the operator classes themselves, not in a mixin: Airflow 2 wraps each
# operator class's own `execute` and calls it with a sentinel keyword.
class StagedSender25Send(Sender25SendEmailOperator):
    """Sender25SendEmailOperator with a scripted first try."""

    def __init__(self, *, scenario: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario

    def execute(self, context: Any) -> Any:
        return staged_execute(self.scenario, context, super().execute)


class StagedXmailerSend(XmailerSendEmailOperator):
    """XmailerSendEmailOperator with a scripted first try."""

    def __init__(self, *, scenario: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario

    def execute(self, context: Any) -> Any:
        return staged_execute(self.scenario, context, super().execute)


OPERATORS: dict[str, tuple[type, type, str]] = {
    "sender25": (StagedSender25Send, Sender25SendEmailOperator, "noreply@example.com"),
    "xmailer": (StagedXmailerSend, XmailerSendEmailOperator, "app@example.com"),
}
SCENARIOS = ("plain", "stall", "inflight", "inflight_resend", "raise", "timeout")


def supports_unknown_outcome(operator: type) -> bool:
    """Whether the operator takes ``on_unknown_outcome`` (the send ledger), in any of its classes."""
    return any(
        "on_unknown_outcome" in inspect.signature(klass.__init__).parameters
        for klass in operator.__mro__
        if "__init__" in vars(klass)
    )


for _service, (_operator, _base, _sender) in OPERATORS.items():
    for _scenario in SCENARIOS:
        _kwargs: dict[str, Any] = {}
        if _scenario == "inflight_resend":
            if not supports_unknown_outcome(_base):
                continue
            _kwargs["on_unknown_outcome"] = "resend"
        if _scenario == "timeout":
            _kwargs["execution_timeout"] = EXECUTION_TIMEOUT
        with DAG(
            dag_id=f"rs_{_service}_{_scenario}",
            schedule=None,
            start_date=datetime(2026, 1, 1),
            catchup=False,
            max_active_runs=1,
            params={"to": "nobody@example.org"},
            default_args={"retries": 1, "retry_delay": timedelta(seconds=2)},
            tags=["real_services"],
        ) as _dag:
            _operator(
                task_id="send",
                scenario=_scenario.removesuffix("_resend"),
                to="{{ params.to }}",
                from_email=_sender,
                subject=f"rs {_scenario} {{{{ run_id }}}}",
                plain_body="Hello from a real Airflow stack.",
                **_kwargs,
            )
        globals()[_dag.dag_id] = _dag
