"""Send an invoice with Sender25Hook, then read its delivery status and attempts.

The smallest complete use of the hook: ``send_message`` returns one id per recipient; the second
task polls ``get_message`` until the status leaves Pending/SoftFail and lists ``get_deliveries``.
(The delivery sensor does this waiting properly; this DAG shows the hook calls underneath.)
"""

from __future__ import annotations

import time
from datetime import datetime

try:  # the version-proper import: airflow.sdk on Airflow 3, airflow.decorators on Airflow 2
    from airflow.sdk import dag, task
except ImportError:
    from airflow.decorators import dag, task

from airflow_provider_mail.hooks.sender25 import Sender25Hook

IN_PROGRESS = {"Pending", "SoftFail", "Error"}


@dag(
    dag_id="example_sender25_hook",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "sender25"],
)
def example_sender25_hook():
    # [START howto_hook_sender25_send]
    @task
    def send_invoice() -> dict:
        with Sender25Hook() as hook:
            return hook.send_message(
                to=["Ana Souza <ana@example.org>"],
                from_email="Acme Billing <billing@example.com>",
                subject="Invoice 2026-0042",
                plain_body="Hello Ana, your invoice 2026-0042 is attached.",
                html_body="<p>Hello Ana, your invoice <b>2026-0042</b> is attached.</p>",
                tag="invoice",
                attachments=[("invoice-2026-0042.txt", b"Total: R$ 1.234,56\n", "text/plain")],
            )

    # [END howto_hook_sender25_send]

    # [START howto_hook_sender25_read]
    @task
    def read_delivery(sent: dict, timeout: float = 60.0, poll_interval: float = 1.0) -> dict:
        report = {}
        with Sender25Hook() as hook:
            for recipient, entry in sent["messages"].items():
                deadline = time.monotonic() + timeout
                status = hook.get_message(entry["id"], expansions=["status"])["status"]["status"]
                while status in IN_PROGRESS and time.monotonic() < deadline:
                    time.sleep(poll_interval)
                    status = hook.get_message(entry["id"], expansions=["status"])["status"]["status"]
                deliveries = hook.get_deliveries(entry["id"])
                report[recipient] = {"id": entry["id"], "status": status, "deliveries": deliveries}
                print(f"message {entry['id']} to {recipient}: {status}")
                for attempt in deliveries:
                    print(f"  attempt {attempt['id']}: {attempt['status']} - {attempt['details']}")
        return {"message_id": sent["message_id"], "recipients": report}

    # [END howto_hook_sender25_read]

    read_delivery(send_invoice())


example_sender25_hook()
