"""Machines lost under the CeleryExecutor: a worker, a triggerer, the metadata database.

Each test loses one part of the deployment for real (SIGKILL of a whole worker or triggerer, a
Postgres restart), checks what the promise says, and brings the part back for the next test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_mail.testing import Sender25Emulator
from tests.real_services.celery.dags.rs_celery_scenarios import CHUNK
from tests.real_services.celery_stack import CeleryStack, fresh_tag
from tests.real_services.harness import wait_for

pytestmark = [pytest.mark.real_services, pytest.mark.celery]


def stored(emulator: Sender25Emulator, recipient: str) -> list[int]:
    return [m.id for m in emulator.messages() if m.rcpt_to == recipient]


@pytest.fixture
def lost(celery_stack: CeleryStack) -> Iterator[list[str]]:
    """Names of services a test killed; started again (and awaited) after it."""
    names: list[str] = []
    yield names
    for name in names:
        if name.startswith("worker-"):
            celery_stack.restart_worker(name.removeprefix("worker-"))
        else:
            celery_stack.restart_triggerer(name)


def test_a_worker_killed_mid_bulk_leaves_the_rest_to_the_retry_on_the_other_worker(
    celery_stack: CeleryStack, sender25_service: Sender25Emulator, lost: list[str]
):
    dag_id, tag, count = "rs_celery_bulk_kill", fresh_tag(), 3 * CHUNK
    run_id = celery_stack.trigger(dag_id, {"tag": tag, "count": count})
    worker, _ = celery_stack.wait_marker(dag_id, run_id, "try1.chunk")
    celery_stack.kill_service(worker)  # the machine is gone mid-batch: no cleanup of any kind
    lost.append(worker)

    assert celery_stack.wait_run(dag_id, run_id, timeout=240) == "success"
    retry = celery_stack.task_instance(dag_id, run_id, "send")
    assert retry["try_number"] == 2 and retry["hostname"] not in (worker, None), retry
    recipients = [f"c{n}-{tag}@example.org" for n in range(count)]
    assert [len(stored(sender25_service, r)) for r in recipients] == [1] * count
    xcom = celery_stack.xcom(dag_id, run_id, "send")
    assert xcom["counts"]["accepted"] == count and xcom["counts"]["sent_earlier"] == CHUNK, xcom
    assert xcom["counts"]["failed"] == xcom["counts"]["unknown"] == 0


def test_a_send_whose_worker_died_after_it_returns_the_first_tries_ids_from_the_other_worker(
    celery_stack: CeleryStack, sender25_service: Sender25Emulator, lost: list[str]
):
    dag_id, recipient = "rs_celery_send_stall", f"ana-{fresh_tag()}@example.org"
    run_id = celery_stack.trigger(dag_id, {"to": recipient})
    worker, _ = celery_stack.wait_marker(dag_id, run_id, "try1.sent")
    first_ids = stored(sender25_service, recipient)
    celery_stack.kill_service(worker)
    lost.append(worker)

    assert celery_stack.wait_run(dag_id, run_id, timeout=180) == "success"
    retry = celery_stack.task_instance(dag_id, run_id, "send")
    assert retry["try_number"] == 2 and retry["hostname"] not in (worker, None), retry
    assert len(first_ids) == 1 and stored(sender25_service, recipient) == first_ids
    assert celery_stack.xcom(dag_id, run_id, "send")["messages"][recipient]["id"] == first_ids[0]


def deferred_gate(stack: CeleryStack, emulator: Sender25Emulator) -> tuple[str, str, str, str]:
    """Start a send to a Held recipient and its deferrable gate; wait until a triggerer owns the wait.

    :returns: ``(dag_id, run_id, recipient, triggerer)``.
    """
    dag_id, recipient = "rs_celery_held_gate", f"ana-{fresh_tag()}+held@example.org"
    run_id = stack.trigger(dag_id, {"to": recipient})
    stack.wait_task(dag_id, run_id, "gate", {"deferred"}, timeout=180)
    owner = wait_for(
        "a triggerer to run the gate's trigger", lambda: stack.trigger_owner(dag_id, run_id, "gate"), 60
    )
    assert stored(emulator, recipient), "the send went nowhere"
    return dag_id, run_id, recipient, owner


def release(emulator: Sender25Emulator, recipient: str) -> None:
    for message_id in stored(emulator, recipient):
        emulator.release(message_id)


def test_a_triggerer_killed_during_a_deferred_wait_leaves_it_to_the_other(
    celery_stack: CeleryStack, sender25_service: Sender25Emulator, lost: list[str]
):
    dag_id, run_id, recipient, owner = deferred_gate(celery_stack, sender25_service)
    celery_stack.kill_service(owner)
    lost.append(owner)
    survivor = wait_for(
        "the other triggerer to take the trigger over",
        lambda: (found := celery_stack.trigger_owner(dag_id, run_id, "gate")) not in (None, owner) and found,
        90,
    )
    release(sender25_service, recipient)  # delivered only now: the survivor must see it

    assert celery_stack.wait_run(dag_id, run_id, timeout=120) == "success"
    assert survivor != owner and survivor.startswith("triggerer-")
    report = celery_stack.xcom(dag_id, run_id, "gate")
    assert [entry["status"] for entry in report["outcomes"].values()] == ["delivered"], report
    assert celery_stack.task_instance(dag_id, run_id, "gate")["hostname"] == "worker-b"


def test_a_postgres_restart_during_a_deferred_wait_is_survived_and_the_gate_finishes(
    celery_stack: CeleryStack, sender25_service: Sender25Emulator
):
    dag_id, run_id, recipient, _ = deferred_gate(celery_stack, sender25_service)
    # Airflow's own services may exit when the database goes away (the scheduler does, depending on
    # what it was doing); in production their supervisor starts them again, and so does the stack here.
    # What is tested is that the deferred wait, in the triggerer, survives and finishes.
    with celery_stack.supervised() as restarted:
        celery_stack.postgres.restart()  # every open connection of every service breaks
        release(sender25_service, recipient)
        state = celery_stack.wait_run(dag_id, run_id, timeout=180)
    print(f"services started again after the Postgres restart: {restarted or 'none'}")

    assert state == "success"
    report = celery_stack.xcom(dag_id, run_id, "gate")
    assert [entry["status"] for entry in report["outcomes"].values()] == ["delivered"], report
