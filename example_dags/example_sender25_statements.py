"""Monthly statements to many customers from a file: one bulk task, a delivery gate, a report.

``customer_file`` writes the customers to a JSONL file (a real DAG would export them from a
warehouse); ``send_statements`` streams that file and sends one rendered message per row through
Sender25 (8 workers, one keep-alive connection each; a 429 holds them all); ``wait_delivered`` gates
on the delivery of every accepted message; ``report`` names the rows that were not sent and the
messages that did not arrive. Triggered by hand with no conf it sends 300 statements.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime
from pathlib import Path

try:  # the version-proper import: airflow.sdk on Airflow 3, airflow.decorators on Airflow 2
    from airflow.sdk import dag, task
except ImportError:
    from airflow.decorators import dag, task

from airflow_provider_mail.operators.bulk import Sender25BulkSendOperator
from airflow_provider_mail.sensors.delivery import Sender25DeliverySensor


@dag(
    dag_id="example_sender25_statements",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"count": 300},
    tags=["example", "sender25", "bulk"],
)
def example_sender25_statements():
    @task
    def customer_file(params: dict | None = None, run_id: str | None = None) -> str:
        """Write one JSON object per customer; return the file's path (an s3:// URL works too)."""
        count = int((params or {}).get("count", 300))
        home = os.environ.get("AIRFLOW_HOME") or tempfile.gettempdir()
        path = Path(home, "statements", f"{(run_id or 'manual').replace(':', '_')}.jsonl")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as handle:
            for number in range(1, count + 1):
                row = {
                    "to": f"Cliente {number} <cliente{number}@example.org>",
                    "name": f"Cliente {number}",
                    "account": f"{number:06d}",
                    "balance": round(number * 13.7, 2),
                }
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        return str(path)

    # [START howto_operator_sender25_bulk]
    statements = Sender25BulkSendOperator(
        task_id="send_statements",
        rows=customer_file(),  # a list of dicts, or a .csv/.jsonl path or URL, streamed
        from_email="Acme Extratos <extratos@example.com>",
        subject="Seu extrato da conta {{ row.account }}",
        plain_body=(
            "Olá {{ row.name }},\n\n"
            "O saldo da conta {{ row.account }} é R$ {{ '%.2f' | format(row.balance) }}."
        ),
        tag="statement",
        max_failed_rows=0,
    )
    # [END howto_operator_sender25_bulk]

    gate = Sender25DeliverySensor(
        task_id="wait_delivered",
        messages=statements.output,  # the bulk XCom as is: {"messages": {rcpt: {"id", "token"}}, ...}
        poke_interval=2,
        timeout=900,
    )

    # [START howto_bulk_results]
    @task(trigger_rule="all_done")
    def report(sent: dict | None, deliveries: dict | None) -> dict:
        """Who was not sent, and whose message did not arrive (bounced, failed, held)."""
        from airflow_provider_mail.xcom import iter_bulk_results, iter_gate_outcomes

        not_sent = []
        if sent:
            not_sent = [r for r in iter_bulk_results(sent["results_path"]) if r["status"] != "accepted"]
        # the gate's XCom holds counts and the first failures; every outcome is read page by page
        undelivered = {
            entry.get("recipient") or message_id: entry.get("status")
            for message_id, entry in (iter_gate_outcomes(deliveries) if deliveries else ())
            if entry.get("status") != "delivered"
        }
        counts = (sent or {}).get("counts", {})
        print(
            f"statements: {counts.get('accepted', 0)} accepted, {len(not_sent)} not sent, "
            f"{len(undelivered)} not delivered: {undelivered or 'nobody bounced'}"
        )
        return {"not_sent": [r["row"] for r in not_sent], "undelivered": undelivered}

    # [END howto_bulk_results]

    report(statements.output, gate.output)


example_sender25_statements()
