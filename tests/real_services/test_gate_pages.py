"""The gate over a bulk send under the real scheduler, LocalExecutor and triggerer: the results file is
gone, the trigger (in the triggerer process) reads the awaited ids from XCom pages, its kwargs stay
a few hundred bytes, and the trigger writes every outcome to the gate's XCom pages through Airflow
while its event and the gate's XCom stay a few KB (issue 15 item 9, issue 16 requirement 2)."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from tests.real_services.conftest import Mailbox, Run
from tests.real_services.harness import AirflowStack

pytestmark = pytest.mark.real_services
COUNT = 120


def test_the_trigger_confirms_a_bulk_from_xcom_pages_without_the_results_file(
    stack: AirflowStack, sender25_service, tmp_path
):
    mailbox = Mailbox("sender25", sender25_service)
    mailbox.reset()
    tag = uuid.uuid4().hex[:8]
    recipients = [f"g{n}-{tag}@example.org" for n in range(COUNT)]
    dag_id = "rs_sender25_gate_pages"
    conf = {"tag": tag, "count": COUNT, "results": str(tmp_path / "results.jsonl")}
    run = Run(stack, dag_id, stack.trigger(dag_id, conf), recipients, task_id="gate")
    try:
        assert run.wait(timeout=240) == "success", run.log(1)[-3000:]
        result = stack.xcom(dag_id, run.run_id, "gate")
        assert result["total"] == COUNT and result["counts"]["delivered"] == COUNT, result
        assert len(json.dumps(result)) <= 16 * 1024 and not result["complete"]
        # the trigger (in the triggerer process) wrote every outcome to the gate's own XCom pages
        ref = result["outcome_pages"]
        assert (ref["task_id"], ref["items"]) == ("gate", COUNT), ref
        outcomes = dict(
            item
            for n in range(ref["pages"])
            for item in stack.xcom(dag_id, run.run_id, "gate", key=f"{ref['key']}.{n}")
        )
        assert len(outcomes) == COUNT and {o["status"] for o in outcomes.values()} == {"delivered"}
        log = run.log(1)
        assert "in the triggerer" in log, log[-3000:]  # the trigger finished the wait
        sizes = [int(size) for size in re.findall(r"TRIGGER_KWARGS_BYTES=(\d+)", log)]
        assert sizes and max(sizes) <= 2048, sizes
        assert not (tmp_path / "results.jsonl").exists()
    finally:
        run.cleanup()
        mailbox.reset()
