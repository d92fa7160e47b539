"""The bulk send's ledger at its edges under the real scheduler + LocalExecutor (issue 15, items 1-3),
for Sender25 and xmailer: edited input between tries, a running task cleared, and a frozen try that
wakes while its retry runs. Each asserts that every recipient's message is stored exactly once."""

from __future__ import annotations

import json
import os
import signal
import uuid
from pathlib import Path

import pytest

from airflow_provider_mail._compat import AIRFLOW_V_3_0_PLUS
from tests.real_services.conftest import Mailbox, Run
from tests.real_services.dags.rs_ledger_scenarios import CHUNK
from tests.real_services.harness import AirflowStack, wait_for

pytestmark = [
    pytest.mark.real_services,
    pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="written for Airflow 3.3 (RESTARTING, the supervisor)"),
]
COUNT = 3 * CHUNK


def start(stack: AirflowStack, service: str, scenario: str, **conf: object) -> Run:
    tag = uuid.uuid4().hex[:8]
    recipients = [f"c{n}-{tag}@example.org" for n in range(COUNT)]
    dag_id = f"rs_{service}_bulk_{scenario}"
    return Run(stack, dag_id, stack.trigger(dag_id, {"tag": tag, "count": COUNT, **conf}), recipients)


def stored_once_each(mailbox: Mailbox, recipients: list[str]) -> None:
    counts = [len(mailbox.stored_ids(r)) for r in recipients]
    assert counts == [1] * len(recipients), counts


def test_a_line_deleted_between_tries_is_not_sent_twice(
    stack: AirflowStack, mailbox: Mailbox, tmp_path: Path
):
    tag = uuid.uuid4().hex[:8]
    good = [{"n": n, "to": f"e{n}-{tag}@example.org"} for n in range(4)]
    rows_file = tmp_path / "rows.jsonl"
    rows_file.write_text(
        "".join(json.dumps(r) + "\n" for r in [good[0], {"n": 9, "to": "not an address"}, *good[1:]])
    )
    dag_id = f"rs_{mailbox.name}_bulk_edit"
    run = Run(stack, dag_id, stack.trigger(dag_id, {"rows_file": str(rows_file)}), [r["to"] for r in good])
    try:
        stack.wait_task(dag_id, run.run_id, "send", {"up_for_retry"}, timeout=120)
        stored_once_each(mailbox, run.recipients)  # try 1 sent the good rows, failed on the bad one
        first = {r: mailbox.stored_ids(r) for r in run.recipients}
        rows_file.write_text("".join(json.dumps(r) + "\n" for r in good))  # the user deletes the bad line
        assert run.wait(timeout=120) == "success"
        assert [t.try_number for t in stack.tries(dag_id, run.run_id, "send")] == [1, 2]
        stored_once_each(mailbox, run.recipients)
        xcom = stack.xcom(dag_id, run.run_id, "send")
        assert xcom["counts"]["sent_earlier"] == 4 and xcom["counts"]["failed"] == 0, xcom
        if mailbox.name == "sender25":  # each row keeps its own message
            assert {r: [xcom["messages"][r]["id"]] for r in run.recipients} == first
    finally:
        run.cleanup()


def test_a_running_task_cleared_with_no_retries_sends_only_the_rest(stack: AirflowStack, mailbox: Mailbox):
    run = start(stack, mailbox.name, "restart")
    try:
        run.wait_marker("try1.chunk", timeout=120)
        stack.clear(run.dag_id, run.run_id, "send")  # running: Airflow sets it RESTARTING, max_tries kept
        assert run.wait(timeout=180) == "success"
        assert stack.task_state(run.dag_id, run.run_id, "send").try_number == 2
        stored_once_each(mailbox, run.recipients)
        xcom = stack.xcom(run.dag_id, run.run_id, "send")
        assert xcom["counts"]["sent_earlier"] == CHUNK and xcom["counts"]["accepted"] == COUNT, xcom
    finally:
        run.cleanup()


def test_a_frozen_try_that_wakes_while_its_retry_runs_sends_nothing(stack: AirflowStack, mailbox: Mailbox):
    run = start(stack, mailbox.name, "frozen")
    supervisor = None
    try:
        task_pid = run.wait_marker("try1.chunk", timeout=120)
        supervisor = run.wait_marker("try1.supervisor", timeout=5)
        # a GC pause, a partition: the whole try (task process and its supervisor) stops answering
        os.kill(supervisor, signal.SIGSTOP)
        os.kill(task_pid, signal.SIGSTOP)
        run.wait_marker("try2.chunk", timeout=180)  # Airflow gave up on try 1 and runs try 2
        # try 1 wakes while try 2 runs (its supervisor still frozen, so only the task process acts)
        (run.markers / "resume").write_text("")
        os.kill(task_pid, signal.SIGCONT)
        ended = run.markers / "try1.ended"
        wait_for("try 1 to end", ended.exists, 60, 0.1)
        assert "SendLedgerFenced" in ended.read_text(), ended.read_text()
        (run.markers / "go").write_text("")
        assert run.wait(timeout=120) == "success"
        stored_once_each(mailbox, run.recipients)
        xcom = stack.xcom(run.dag_id, run.run_id, "send")
        assert xcom["counts"]["sent_earlier"] == CHUNK and xcom["counts"]["accepted"] == COUNT, xcom
    finally:
        if supervisor is not None:
            os.kill(supervisor, signal.SIGCONT)
        run.cleanup()
