"""Bulk sends under `airflow dags test` against the Sender25 emulator: 1,000 rows with invalid rows and a
429 storm, gated on delivery; and a try that crashes mid-batch followed by a retry that sends only the rest."""

from __future__ import annotations

import json
import textwrap

import pytest

from airflow_provider_mail._bulk.results import read_results
from airflow_provider_mail.hooks.sender25 import SEND_MESSAGE_PATH

pytestmark = pytest.mark.dag_run

BAD_ROWS = (17, 404, 999)

STORM_DAG = textwrap.dedent(
    """
    from datetime import datetime

    from airflow_provider_mail._compat import dag
    from airflow_provider_mail.operators.bulk import Sender25BulkSendOperator
    from airflow_provider_mail.sensors.delivery import Sender25DeliverySensor


    @dag(dag_id="bulk_storm", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
    def bulk_storm():
        send = Sender25BulkSendOperator(
            task_id="send_statements",
            rows={rows!r},
            from_email="billing@example.com",
            subject="Extrato {{{{ row.number }}}}",
            plain_body="Olá {{{{ row.name }}}}",
            max_failed_rows=3,
            results_path={results!r},
        )
        Sender25DeliverySensor(task_id="wait_delivered", messages=send.output, poke_interval=1, timeout=300)


    bulk_storm()
    """
)

CRASH_DAG = textwrap.dedent(
    """
    from datetime import datetime, timedelta

    from airflow_provider_mail._compat import dag
    from airflow_provider_mail.operators.bulk import Sender25BulkSendOperator


    class CrashesOnTryOne(Sender25BulkSendOperator):
        def after_chunk(self, progress):
            if self._try == 1 and progress.done >= 100:
                raise RuntimeError("worker lost after 100 rows")

        def execute(self, context):
            self._try = context["ti"].try_number
            return super().execute(context)


    @dag(dag_id="bulk_crash", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
    def bulk_crash():
        CrashesOnTryOne(
            task_id="send_statements",
            rows={rows!r},
            from_email="billing@example.com",
            subject="Extrato {{{{ row.number }}}}",
            plain_body="Olá {{{{ row.name }}}}",
            ledger_chunk_size=50,
            results_path={results!r},
            retries=1,
            retry_delay=timedelta(seconds=0),
        )


    bulk_crash()
    """
)


def write_rows(path, count, bad=()):
    with path.open("w") as handle:
        for number in range(count):
            to = "not-an-address" if number in bad else f"cliente{number}@example.org"
            handle.write(json.dumps({"to": to, "name": f"Cliente {number}", "number": number}) + "\n")


def sends(emulator):
    return [r for r in emulator.requests if r.path == SEND_MESSAGE_PATH]


def test_1000_rows_with_invalid_rows_and_a_429_storm_are_each_sent_once_and_gated(
    dags_test, sender25_emulator, tmp_path
):
    rows, results = tmp_path / "rows.jsonl", tmp_path / "results.jsonl"
    write_rows(rows, 1000, BAD_ROWS)
    (tmp_path / "bulk_storm.py").write_text(STORM_DAG.format(rows=str(rows), results=str(results)))
    sender25_emulator.set_network(rate_limit=150, rate_limit_burst=40)
    output = dags_test("bulk_storm", dags_folder=tmp_path)
    stored = sorted(m.rcpt_to for m in sender25_emulator.messages())
    valid = sorted(f"cliente{n}@example.org" for n in range(1000) if n not in BAD_ROWS)
    assert stored == valid  # every valid row accepted exactly once
    storm = [r for r in sends(sender25_emulator) if r.rate_limited]
    assert storm, "the rate limit never answered 429: the test proves nothing"
    assert len(storm) < 200  # the shared gate: a 429 holds every sender, not each one by one
    lines = read_results(str(results))
    assert len(lines) == 1000
    failed = {line["row"]: line for line in lines if line["status"] == "failed"}
    assert sorted(failed) == list(BAD_ROWS)
    assert {line["error"] for line in failed.values()} == {"Sender25ValidationError"}
    assert "all 997 message(s) delivered" in output, output[-3000:]


def test_a_try_that_crashes_mid_batch_is_retried_and_sends_only_the_rest(
    dags_test, sender25_emulator, tmp_path
):
    rows, results = tmp_path / "rows.jsonl", tmp_path / "results.jsonl"
    write_rows(rows, 300)
    (tmp_path / "bulk_crash.py").write_text(CRASH_DAG.format(rows=str(rows), results=str(results)))
    output = dags_test("bulk_crash", dags_folder=tmp_path)
    assert "worker lost after 100 rows" in output
    stored = sorted(m.rcpt_to for m in sender25_emulator.messages())
    assert stored == sorted(f"cliente{n}@example.org" for n in range(300))  # none twice
    lines = read_results(str(results))
    assert sum(line["status"] == "sent_earlier" for line in lines) == 100
    assert sum(line["status"] == "accepted" for line in lines) == 200
