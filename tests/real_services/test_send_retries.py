"""A send task under the real scheduler + LocalExecutor: killed, failing or timed out on try 1.

Every test runs for Sender25 and for xmailer (``mailbox``), on one shared stack. What a retry does
after try 1 is the product's "nothing is sent twice" promise, kept by the send ledger
(``AmbiguousSendError`` when try 1's outcome is unknown, ``on_unknown_outcome="resend"`` to send
again). The harness itself (start, trigger, kill, retry, clear, XCom, logs) is asserted in every
test too.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.real_services.conftest import Mailbox, Run
from tests.real_services.dags.rs_send_scenarios import EXECUTION_TIMEOUT
from tests.real_services.harness import AirflowStack, wait_for

pytestmark = pytest.mark.real_services


def counts(mailbox: Mailbox, run: Run) -> list[int]:
    """How many messages the service stored for each recipient of the run."""
    return [len(mailbox.stored_ids(recipient)) for recipient in run.recipients]


def stored_once(mailbox: Mailbox, run: Run) -> dict[str, Any]:
    """Wait until the service stored one message per recipient; return their ids."""

    def probe() -> dict[str, Any] | None:
        ids = {recipient: mailbox.stored_ids(recipient) for recipient in run.recipients}
        return {r: found[0] for r, found in ids.items()} if all(ids.values()) else None

    first = wait_for(f"{mailbox.name} to store the message of {run.run_id}", probe, 60, 0.1)
    assert counts(mailbox, run) == [1, 1]
    return first


def xcom_ids(stack: AirflowStack, mailbox: Mailbox, run: Run) -> dict[str, Any]:
    xcom = stack.xcom(run.dag_id, run.run_id, run.task_id)
    assert xcom, f"no XCom for {run.dag_id}/{run.run_id}"
    return {recipient: mailbox.xcom_ids(xcom, recipient) for recipient in run.recipients}


def assert_retried_once(stack: AirflowStack, run: Run, killed_pid: int | None = None) -> None:
    """Try 1 ended in failure and the scheduler ran try 2 in a new process."""
    tries = stack.tries(run.dag_id, run.run_id, run.task_id)
    assert [t.try_number for t in tries] == [1, 2], tries
    assert tries[0].state in {"failed", "up_for_retry"}, tries
    second_pid = run.wait_marker("try2.started", timeout=5)
    assert second_pid != killed_pid


def test_cleared_succeeded_task_sends_again(stack: AirflowStack, start_run, mailbox: Mailbox):
    run = start_run(mailbox.name, "plain")
    assert run.wait() == "success"
    first = stored_once(mailbox, run)
    assert xcom_ids(stack, mailbox, run) == first
    assert "queued" in run.log(1)

    stack.clear(run.dag_id, run.run_id, run.task_id)
    run.wait_marker("try2.started")
    assert run.wait() == "success"
    assert stack.task_state(run.dag_id, run.run_id, run.task_id).try_number == 2
    # A clear is the user asking for the task again: a new send, not a replay of the first.
    assert counts(mailbox, run) == [2, 2]
    second = xcom_ids(stack, mailbox, run)
    assert all(second[r] != first[r] for r in run.recipients)


def test_killed_after_the_send_returned_reuses_the_first_ids(
    stack: AirflowStack, start_run, mailbox: Mailbox
):
    run = start_run(mailbox.name, "stall")
    pid = run.wait_marker("try1.sent")
    first = stored_once(mailbox, run)
    run.kill(pid)

    state = run.wait()
    assert_retried_once(stack, run, killed_pid=pid)
    assert state == "success"
    assert counts(mailbox, run) == [1, 1]
    assert xcom_ids(stack, mailbox, run) == first


def test_exception_after_the_send_reuses_the_first_ids(stack: AirflowStack, start_run, mailbox: Mailbox):
    run = start_run(mailbox.name, "raise")
    state = run.wait()
    assert "failing on purpose after the send returned" in run.log(1)
    assert_retried_once(stack, run)
    assert state == "success"
    assert counts(mailbox, run) == [1, 1]
    first = {r: mailbox.stored_ids(r)[0] for r in run.recipients}
    assert xcom_ids(stack, mailbox, run) == first


def test_killed_while_the_answer_is_held_fails_ambiguous(stack: AirflowStack, start_run, mailbox: Mailbox):
    mailbox.hold_next_send()
    run = start_run(mailbox.name, "inflight")
    pid = run.wait_marker("try1.started")
    stored_once(mailbox, run)  # stored, its answer still held back: the request is in flight
    run.kill(pid)

    state = run.wait()
    assert_retried_once(stack, run, killed_pid=pid)
    assert state == "failed"
    assert counts(mailbox, run) == [1, 1]
    assert "AmbiguousSendError" in run.log(2)


def test_killed_while_the_answer_is_held_resends_when_asked(stack: AirflowStack, start_run, mailbox: Mailbox):
    mailbox.hold_next_send()
    run = start_run(mailbox.name, "inflight_resend")
    pid = run.wait_marker("try1.started")
    stored_once(mailbox, run)
    run.kill(pid)

    assert run.wait() == "success"
    assert_retried_once(stack, run, killed_pid=pid)
    assert counts(mailbox, run) == [2, 2]


def test_execution_timeout_during_the_send_fails_ambiguous(stack: AirflowStack, start_run, mailbox: Mailbox):
    # Twice the timeout: try 1 times out mid-request. (The xmailer hook's QUIT then still waits for
    # the held answer, so a longer hold only makes this test slower.)
    mailbox.hold_next_send(2 * EXECUTION_TIMEOUT.total_seconds())
    run = start_run(mailbox.name, "timeout")
    state = run.wait()
    assert "Timeout" in run.log(1)
    assert_retried_once(stack, run)
    assert state == "failed"
    assert counts(mailbox, run) == [1, 1]
    assert "AmbiguousSendError" in run.log(2)
