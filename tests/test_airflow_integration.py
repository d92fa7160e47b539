"""Real Airflow: provider discovery through the CLI, DAG integrity, and example DAGs under `dags test`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_mail._compat import get_dagbag_class
from airflow_provider_mail.hooks.sender25 import DELIVERIES_PATH, MESSAGE_PATH, SEND_MESSAGE_PATH

REPO_ROOT = Path(__file__).resolve().parent.parent
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def run_airflow(
    *args: str, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [AIRFLOW, *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def airflow_db() -> None:
    result = run_airflow("db", "migrate")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


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
    bag = get_dagbag_class()(dag_folder=str(REPO_ROOT / "example_dags"))
    assert not bag.import_errors
    assert {
        "example_sender25_hook",
        "example_sender25_send",
        "example_sender25_bulk",
        "example_sender25_raw",
        "example_sender25_alerts",
    } <= set(bag.dag_ids)


@pytest.mark.dag_run
def test_example_sender25_hook_dag_sends_then_reads_status_and_deliveries(airflow_db, sender25_emulator):
    env = {"AIRFLOW_CONN_SENDER25_DEFAULT": sender25_emulator.airflow_connection()}
    result = run_airflow("dags", "test", "example_sender25_hook", env=env)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    (send,) = [r for r in sender25_emulator.requests if r.path == SEND_MESSAGE_PATH]
    assert send.params["subject"] == "Invoice 2026-0042" and send.params["tag"] == "invoice"
    (message,) = sender25_emulator.messages()
    assert message.rcpt_to == "ana@example.org"
    assert message.attachments == [("invoice-2026-0042.txt", "text/plain", b"Total: R$ 1.234,56\n")]
    assert message.status == "Sent"
    paths = [r.path for r in sender25_emulator.requests]
    assert MESSAGE_PATH in paths and paths[-1] == DELIVERIES_PATH
