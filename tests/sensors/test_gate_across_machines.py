"""A bulk send on one worker, its gate on another: under `airflow dags test`, against the emulators.

The results file stays on the bulk worker's disk (the test deletes it before the gate runs, as the
other worker never sees it): the gate, in poke mode and through its trigger, must confirm every row
from Airflow alone, and hand its trigger kwargs of a few KB (issue 15 item 9, issue 16 requirement 2).
A gate handed an older XCom whose ids are only in that file fails with the named error.
"""

from __future__ import annotations

import json
import re
import textwrap

import pytest

from airflow_provider_mail.testing import XmailerEmulator

pytestmark = pytest.mark.dag_run

ROWS = 1500
KWARGS_LIMIT = 8 * 1024

DAG = textwrap.dedent(
    """
    import json
    import os
    from datetime import datetime

    from airflow_provider_mail._compat import dag, task
    from airflow_provider_mail.operators.bulk import {bulk}
    from airflow_provider_mail.sensors.delivery import {sensor}


    class Measured({sensor}):
        def build_trigger(self, *args):
            trigger = super().build_trigger(*args)
            self.log.info("TRIGGER_KWARGS_BYTES=%d", len(json.dumps(trigger.serialize()[1])))
            return trigger


    @dag(dag_id="gate_elsewhere", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
    def gate_elsewhere():
        send = {bulk}(
            task_id="send",
            rows={rows!r},
            from_email="billing@example.com",
            subject="Extrato {{{{ row.number }}}}",
            plain_body="Olá {{{{ row.name }}}}",
            xcom_ids_limit=100,
            results_path={results!r},
        )

        @task
        def on_another_worker():
            os.remove({results!r})  # the gate's worker never sees the bulk worker's disk

        moved = on_another_worker()
        poke = {sensor}(task_id="poke", messages=send.output, poke_interval=0.5, timeout=300)
        deferred = Measured(
            task_id="deferred", messages=send.output, poke_interval=0.5, timeout=300, deferrable=True
        )
        send >> moved >> deferred >> poke

        @task
        def read_back(result, ti=None):
            # a downstream task on any worker: the bounded XCom, and every outcome from its pages
            import logging

            from airflow_provider_mail.xcom import read_gate_outcomes

            outcomes = read_gate_outcomes(result)
            delivered = sum(o["status"] == "delivered" for o in outcomes.values())
            logging.getLogger("airflow.task").info(
                "GATE_READ %s: RESULT_BYTES=%d OUTCOMES_READ=%d DELIVERED=%d",
                ti.task_id, len(json.dumps(result)), len(outcomes), delivered,
            )

        read_back.override(task_id="read_deferred")(deferred.output)
        read_back.override(task_id="read_poke")(poke.output)


    gate_elsewhere()
    """
)


def write_rows(path, count):
    with path.open("w") as handle:
        for number in range(count):
            row = {"to": f"cliente{number}@example.org", "name": f"Cliente {number}", "number": number}
            handle.write(json.dumps(row) + "\n")


def run_gate_dag(dags_test, tmp_path, bulk, sensor, **kwargs):
    rows, results = tmp_path / "rows.jsonl", tmp_path / "results.jsonl"
    write_rows(rows, ROWS)
    (tmp_path / "gate_elsewhere.py").write_text(
        DAG.format(bulk=bulk, sensor=sensor, rows=str(rows), results=str(results))
    )
    return dags_test("gate_elsewhere", dags_folder=tmp_path, **kwargs)


def assert_confirmed_from_airflow_alone(output):
    # both gates: poke mode on the worker, and the trigger after the deferrable first poke
    assert output.count(f"all {ROWS} message(s) delivered") >= 2, output[-4000:]
    sizes = [int(size) for size in re.findall(r"TRIGGER_KWARGS_BYTES=(\d+)", output)]
    assert sizes, "the deferrable gate never deferred: the test proves nothing about its kwargs"
    assert max(sizes) <= KWARGS_LIMIT, sizes
    # both gates' XComs are a few KB; a downstream task read every outcome from the pages (the
    # deferred gate's were written by its trigger, through Airflow)
    found = r"GATE_READ (\w+): RESULT_BYTES=(\d+) OUTCOMES_READ=(\d+) DELIVERED=(\d+)"
    reads = {task: numbers for task, *numbers in re.findall(found, output)}  # 2.11 logs twice
    assert set(reads) == {"read_deferred", "read_poke"}, output[-4000:]
    assert all(int(size) <= 16 * 1024 and int(n) == int(ok) == ROWS for size, n, ok in reads.values()), reads


@pytest.mark.sender25_emulator(delivery_delay=4)
def test_sender25_gate_confirms_a_big_batch_without_the_bulk_workers_disk(dags_test, tmp_path):
    output = run_gate_dag(dags_test, tmp_path, "Sender25BulkSendOperator", "Sender25DeliverySensor")
    assert_confirmed_from_airflow_alone(output)


def test_xmailer_gate_confirms_a_big_batch_without_the_bulk_workers_disk(dags_test, tmp_path):
    with XmailerEmulator(delivery_delay=4, visibility_lag=0.2) as xmailer:
        output = run_gate_dag(
            dags_test,
            tmp_path,
            "XmailerBulkSendOperator",
            "XmailerDeliverySensor",
            extra_env={"AIRFLOW_CONN_XMAILER_DEFAULT": xmailer.airflow_connection(retry_backoff=0.01)},
        )
    assert_confirmed_from_airflow_alone(output)


SPILL_DAG = textwrap.dedent(
    """
    import json
    from datetime import datetime

    from airflow_provider_mail._compat import dag, task
    from airflow_provider_mail.hooks.sender25 import Sender25Hook
    from airflow_provider_mail.sensors.delivery import Sender25DeliverySensor


    class Measured(Sender25DeliverySensor):
        def build_trigger(self, *args):
            trigger = super().build_trigger(*args)
            self.log.info("TRIGGER_KWARGS_BYTES=%d", len(json.dumps(trigger.serialize()[1])))
            return trigger


    @dag(dag_id="gate_spill", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
    def gate_spill():
        @task
        def sends():
            with Sender25Hook() as hook:
                return [
                    hook.send_message(
                        to=[f"r{{b}}-{{i}}@example.org" for i in range(50)],
                        from_email="n@example.com",
                        subject="s",
                        plain_body="b",
                    )
                    for b in range({batches})
                ]

        Measured(task_id="deferred", messages=sends(), poke_interval=0.5, timeout=300, deferrable=True)


    gate_spill()
    """
)


@pytest.mark.sender25_emulator(delivery_delay=4)
def test_ids_handed_over_inline_go_to_the_sensors_own_pages_before_it_defers(dags_test, tmp_path):
    """Not a bulk send: 600 ids in an ordinary XCom. The sensor pages them into its own XComs and its
    trigger reads them back (the trigger's kwargs name the pages)."""
    (tmp_path / "gate_spill.py").write_text(SPILL_DAG.format(batches=12))
    output = dags_test("gate_spill", dags_folder=tmp_path)
    assert "all 600 message(s) delivered" in output, output[-4000:]
    sizes = [int(size) for size in re.findall(r"TRIGGER_KWARGS_BYTES=(\d+)", output)]
    assert sizes and max(sizes) <= KWARGS_LIMIT, sizes


GONE_DAG = textwrap.dedent(
    """
    from datetime import datetime

    from airflow_provider_mail._compat import dag, task
    from airflow_provider_mail.sensors.delivery import Sender25DeliverySensor


    @dag(dag_id="gate_pages_gone", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
    def gate_pages_gone():
        @task
        def bulk_xcom(ti=None):
            # a bulk XCom whose pages were deleted since (the send task cleared, its XComs gone)
            ref = {{"dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": "bulk_xcom", "map_index": -1,
                   "key": "mail_gate_ids", "pages": 2, "items": 100}}
            return {{"counts": {{"accepted": 100}}, "results_path": "/elsewhere.jsonl", "gate_ids": ref}}

        Sender25DeliverySensor(task_id="gate", messages=bulk_xcom(), poke_interval=0.5, timeout=60)


    gate_pages_gone()
    """
)


def test_pages_that_are_gone_are_a_named_error_when_the_gate_reads_them(dags_test, tmp_path):
    (tmp_path / "gate_pages_gone.py").write_text(GONE_DAG.format())
    output = dags_test("gate_pages_gone", dags_folder=tmp_path, expect_exit=1)
    assert "AwaitedMessagesUnavailable" in output and "mail_gate_ids.0" in output, output[-4000:]
