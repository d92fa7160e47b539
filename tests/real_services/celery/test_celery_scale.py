"""Bulk sends spread over two workers under the CeleryExecutor: one rate for the whole mapped task,
and a gate on another machine than its send."""

from __future__ import annotations

import pytest

from airflow_provider_mail.hooks.sender25 import SEND_MESSAGE_PATH
from airflow_provider_mail.testing import Sender25Emulator
from tests.operators.test_bulk_partitions import peak_per_second
from tests.real_services.celery.dags.rs_celery_partitions import PARTITIONS, RATE_LIMIT
from tests.real_services.celery_stack import CeleryStack, fresh_tag

pytestmark = [pytest.mark.real_services, pytest.mark.celery]


def test_four_mapped_partitions_on_two_workers_send_every_row_once_never_above_the_task_rate(
    celery_stack: CeleryStack, sender25_service: Sender25Emulator
):
    # the service allows 60/s; the task asks for 50/s in all, over four instances on two machines
    sender25_service.set_network(rate_limit=60)
    dag_id, tag, count = "rs_celery_partitions", fresh_tag(), 400
    run_id = celery_stack.trigger(dag_id, {"tag": tag, "count": count})
    assert celery_stack.wait_run(dag_id, run_id, timeout=240) == "success"

    instances = celery_stack.mapped_instances(dag_id, run_id, "send")
    assert [ti["state"] for ti in instances] == ["success"] * PARTITIONS
    assert {ti["hostname"] for ti in instances} == {"worker-a", "worker-b"}, instances
    recipients = sorted(m.rcpt_to for m in sender25_service.messages())
    assert recipients == sorted(f"c{n}-{tag}@example.org" for n in range(count))  # each row once
    sends = [r for r in sender25_service.requests if r.path == SEND_MESSAGE_PATH]
    assert not [r for r in sends if r.rate_limited], "the service had to refuse sends (429)"
    assert len(sends) == count
    assert peak_per_second([r.timestamp for r in sends]) <= RATE_LIMIT


def test_a_big_bulk_on_worker_a_is_confirmed_by_its_gate_on_worker_b(
    celery_stack: CeleryStack, sender25_service: Sender25Emulator
):
    dag_id, tag, count = "rs_celery_big_gate", fresh_tag(), 1500
    run_id = celery_stack.trigger(dag_id, {"tag": tag, "count": count})
    state = celery_stack.wait_run(dag_id, run_id, timeout=280)

    send = celery_stack.task_instance(dag_id, run_id, "send")
    assert send["state"] == "success" and send["hostname"] == "worker-a", send
    recipients = sorted(m.rcpt_to for m in sender25_service.messages())
    assert recipients == sorted(f"c{n}-{tag}@example.org" for n in range(count))  # each row once
    xcom = celery_stack.xcom(dag_id, run_id, "send")
    assert xcom["counts"]["accepted"] == count and not xcom["ids_in_xcom"], xcom["counts"]
    gate = celery_stack.task_instance(dag_id, run_id, "gate")
    assert gate["hostname"] == "worker-b", gate
    assert state == "success", celery_stack.task_log(dag_id, run_id, "gate", gate["try_number"])[-3000:]
    report = celery_stack.xcom(dag_id, run_id, "gate")
    assert report["total"] == count and report["counts"]["delivered"] == count, report["counts"]
