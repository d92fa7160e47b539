"""A bulk send killed mid-batch under the real scheduler + LocalExecutor: the retry sends only the rest."""

from __future__ import annotations

import uuid

import pytest

from tests.real_services.conftest import Mailbox, Run
from tests.real_services.dags.rs_bulk_scenarios import CHUNK
from tests.real_services.harness import AirflowStack

pytestmark = pytest.mark.real_services
COUNT = 3 * CHUNK


def test_a_bulk_send_killed_mid_batch_sends_only_the_rest_on_retry(stack: AirflowStack, sender25_service):
    mailbox = Mailbox("sender25", sender25_service)
    mailbox.reset()
    tag = uuid.uuid4().hex[:8]
    recipients = [f"c{n}-{tag}@example.org" for n in range(COUNT)]
    dag_id = "rs_sender25_bulk_kill"
    run = Run(stack, dag_id, stack.trigger(dag_id, {"tag": tag, "count": COUNT}), recipients)
    try:
        assert run.wait(timeout=240) == "success"
        tries = stack.tries(dag_id, run.run_id, "send")
        assert [t.try_number for t in tries] == [1, 2], tries
        # every statement stored exactly once: try 1 sent the first chunk and died, try 2 the rest
        assert [len(mailbox.stored_ids(r)) for r in recipients] == [1] * COUNT
        xcom = stack.xcom(dag_id, run.run_id, "send")
        assert xcom["counts"]["accepted"] == COUNT and xcom["counts"]["sent_earlier"] == CHUNK, xcom
        assert xcom["counts"]["failed"] == xcom["counts"]["unknown"] == 0
    finally:
        run.cleanup()
        mailbox.reset()
