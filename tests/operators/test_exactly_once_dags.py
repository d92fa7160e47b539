"""Exactly once under `airflow dags test`: Airflow's own retries and execution_timeout, against the
emulator, with the ledger in the metadata database (the task state store on Airflow 3.3+, Variables
on 2.11, and Variables on request).

`dags test` honours retries and retry_delay=0 on 3.3.2 and 2.11.2 for exceptions. On 2.11.2 it does
not retry after execution_timeout: AirflowTaskTimeout is a BaseException there, and it aborts the
whole `dags test` after marking the task instance up_for_retry. There, the next try is run as a
second `dags test` of the same logical date: same run_id, hence the same task instance and ledger
record, with try_number and max_tries as a retry would have them."""

from __future__ import annotations

import json
import re
import textwrap

import pytest

from airflow_provider_mail._compat import AIRFLOW_V_3_0_PLUS
from airflow_provider_mail.hooks.sender25 import SEND_MESSAGE_PATH
from airflow_provider_mail.testing import Fault

pytestmark = pytest.mark.dag_run

DAG_TEMPLATE = textwrap.dedent(
    """
    import json
    from datetime import datetime, timedelta

    from airflow_provider_mail._compat import dag, task
    from airflow_provider_mail.operators.sender25 import Sender25SendEmailOperator


    class FailsAfterSend(Sender25SendEmailOperator):
        def execute(self, context):
            result = super().execute(context)
            if {fail_after_send} and context["ti"].try_number == 1:
                raise RuntimeError("a later step of try 1 failed")
            return result


    @dag(dag_id="{dag_id}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
    def exactly_once():
        send = FailsAfterSend.partial(
            task_id="send",
            from_email="n@example.com",
            subject="Once only",
            plain_body="hi",
            retries=1,
            retry_delay=timedelta(seconds=0),
            execution_timeout={execution_timeout},
            {extra}
        ).expand(to={recipients!r})

        @task
        def report(results):
            print("XCOM=" + json.dumps(list(results), sort_keys=True))

        report(send.output)


    exactly_once()
    """
)


def write_dag(
    folder, dag_id, *, fail_after_send=True, execution_timeout=None, recipients=("ana@example.org",), extra=""
):
    (folder / f"{dag_id}.py").write_text(
        DAG_TEMPLATE.format(
            dag_id=dag_id,
            fail_after_send=fail_after_send,
            execution_timeout=execution_timeout,
            recipients=list(recipients),
            extra=extra,
        )
    )
    return folder


@pytest.fixture(autouse=True)
def ledger_dir(monkeypatch):
    """Unlike the other operator tests, these use the real default ledger (the metadata database)."""
    monkeypatch.delenv("AIRFLOW__MAIL_PROVIDER__SEND_LEDGER", raising=False)


def run_timeout_dag(dags_test, emulator, folder, dag_id, *, expect_exit):
    """Run a DAG whose try 1 hits execution_timeout, through to the try after it; return the output."""
    if AIRFLOW_V_3_0_PLUS:
        return dags_test(dag_id, dags_folder=folder, conn_extra={"timeout": 30}, expect_exit=expect_exit)
    from tests.conftest import run_airflow

    env = {
        "AIRFLOW_CONN_SENDER25_DEFAULT": emulator.airflow_connection(timeout=30),
        "AIRFLOW__CORE__DAGS_FOLDER": str(folder),
    }
    first = run_airflow("dags", "test", dag_id, "2026-01-02", env=env)
    assert first.returncode != 0 and "AirflowTaskTimeout" in first.stdout + first.stderr
    assert "Marking task as UP_FOR_RETRY" in first.stdout + first.stderr
    second = run_airflow("dags", "test", dag_id, "2026-01-02", env=env)
    output = second.stdout + second.stderr
    assert second.returncode == expect_exit, output[-6000:]
    return first.stdout + first.stderr + output


def xcom(output: str) -> list[dict]:
    (line,) = set(re.findall(r"XCOM=(\[.*\])", output))
    return json.loads(line)


def sends(emulator):
    return [r for r in emulator.requests if r.path == SEND_MESSAGE_PATH]


@pytest.mark.parametrize("ledger", [None, "variable"], ids=["default", "variable"])
def test_a_failure_after_the_send_is_retried_without_a_second_message(
    dags_test, sender25_emulator, tmp_path, ledger
):
    recipients = [f"cliente{n}@example.org" for n in range(3)]
    dag_id = f"once_{ledger or 'default'}"
    folder = write_dag(tmp_path, dag_id, recipients=recipients, extra=f"ledger={ledger!r},")
    output = dags_test(dag_id, dags_folder=folder)
    messages = sender25_emulator.messages()
    assert sorted(m.rcpt_to for m in messages) == recipients  # one each, three mapped task instances
    assert len(sends(sender25_emulator)) == 3
    assert (
        len(
            set(
                re.findall(
                    r"sent by try 1 \(dag_id=once_\w+; task_id=send; run_id=[^;]+; map_index=(\d)", output
                )
            )
        )
        == 3
    )
    ids = {m.rcpt_to: m.id for m in messages}
    returned = {rcpt: entry["id"] for result in xcom(output) for rcpt, entry in result["messages"].items()}
    assert returned == ids  # try 2's XCom is try 1's result
    if ledger == "variable" or not AIRFLOW_V_3_0_PLUS:
        assert_one_accepted_variable_per_map_index(output, dag_id)
    else:
        assert "Send ledger record: task state store key 'airflow_provider_mail.send_ledger'" in output


def assert_one_accepted_variable_per_map_index(output: str, dag_id: str) -> None:
    from tests.conftest import run_airflow

    names = set(re.findall(r"Send ledger record: Airflow Variable '([^']+)'", output))
    assert len(names) == 3 and all(
        name.startswith(f"airflow_provider_mail.ledger.{dag_id}.send.") for name in names
    )
    from airflow_provider_mail._ledger.record import decode_rows

    for name in names:
        stored = run_airflow("variables", "get", name + ".k1.c0")  # try 1's only chunk
        assert stored.returncode == 0, stored.stderr[-2000:]
        chunk = json.loads(stored.stdout.strip().splitlines()[-1])
        (row,) = decode_rows(chunk["data"], chunk["try_number"], name=name)
        assert row.key == "message" and row.state == "accepted" and row.try_number == 1


def test_execution_timeout_during_the_send_makes_the_retry_fail_as_ambiguous(
    dags_test, sender25_emulator, tmp_path
):
    sender25_emulator.inject(Fault.SLOW, delay=8)  # stored at once, answered after the timeout fired
    folder = write_dag(
        tmp_path, "once_timeout", fail_after_send=False, execution_timeout="timedelta(seconds=2)"
    )
    output = run_timeout_dag(dags_test, sender25_emulator, folder, "once_timeout", expect_exit=1)
    assert "AirflowTaskTimeout" in output
    assert "AmbiguousSendError" in output and "try 1 sent this message to sender25" in output
    assert "X-Airflow-Trace: dag_id=once_timeout; task_id=send" in output
    assert len(sender25_emulator.messages()) == 1 and len(sends(sender25_emulator)) == 1


def test_execution_timeout_with_on_unknown_outcome_resend_sends_twice(dags_test, sender25_emulator, tmp_path):
    sender25_emulator.inject(Fault.SLOW, delay=8)
    folder = write_dag(
        tmp_path,
        "once_resend",
        fail_after_send=False,
        execution_timeout="timedelta(seconds=2)",
        extra="on_unknown_outcome='resend',",
    )
    output = run_timeout_dag(dags_test, sender25_emulator, folder, "once_resend", expect_exit=0)
    assert "on_unknown_outcome='resend'" in output
    assert len(sender25_emulator.messages()) == 2
