"""Real Airflow: provider discovery through the CLI, DAG integrity, and example DAGs under `dags test`."""

from __future__ import annotations

import json

import pytest

from airflow_provider_mail._compat import get_dagbag_class
from airflow_provider_mail.hooks.sender25 import DELIVERIES_PATH, MESSAGE_PATH, SEND_MESSAGE_PATH
from tests.conftest import REPO_ROOT, run_airflow


def _json_rows(output: str) -> list[dict]:
    start = output.index("[")
    return json.loads(output[start : output.rindex("]") + 1])


def test_airflow_providers_list_shows_the_provider():
    result = run_airflow("providers", "list", "-o", "json")
    assert result.returncode == 0, result.stderr[-2000:]
    packages = {row["package_name"] for row in _json_rows(result.stdout)}
    assert "airflow-provider-mail" in packages


def test_airflow_providers_hooks_shows_the_sender25_connection_type():
    result = run_airflow("providers", "hooks", "-o", "json")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {row["connection_type"]: row for row in _json_rows(result.stdout)}
    assert rows["sender25"]["class"] == "airflow_provider_mail.hooks.sender25.Sender25Hook"


def test_example_dags_import_without_errors():
    from airflow_provider_mail._compat import AIRFLOW_V_3_0_PLUS
    from tests.test_example_dags import AIRFLOW_3_ONLY_EXAMPLES

    bag = get_dagbag_class()(dag_folder=str(REPO_ROOT / "example_dags"))
    errors = {
        path: error
        for path, error in bag.import_errors.items()
        if AIRFLOW_V_3_0_PLUS or not path.endswith(tuple(AIRFLOW_3_ONLY_EXAMPLES))
    }
    assert not errors, errors
    assert {
        "example_sender25_hook",
        "example_sender25_send",
        "example_sender25_bulk",
        "example_sender25_raw",
        "example_sender25_alerts",
    } <= set(bag.dag_ids)


@pytest.mark.dag_run
def test_example_sender25_hook_dag_sends_then_reads_status_and_deliveries(dags_test, sender25_emulator):
    dags_test("example_sender25_hook")
    (send,) = [r for r in sender25_emulator.requests if r.path == SEND_MESSAGE_PATH]
    assert send.params["subject"] == "Invoice 2026-0042" and send.params["tag"] == "invoice"
    (message,) = sender25_emulator.messages()
    assert message.rcpt_to == "ana@example.org"
    assert message.attachments == [("invoice-2026-0042.txt", "text/plain", b"Total: R$ 1.234,56\n")]
    assert message.status == "Sent"
    paths = [r.path for r in sender25_emulator.requests]
    assert MESSAGE_PATH in paths and paths[-1] == DELIVERIES_PATH
