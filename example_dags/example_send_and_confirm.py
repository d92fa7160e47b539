"""Send an invoice, wait (deferrable) until Sender25 shows it delivered, then act on the outcome.

A second branch sends to an address that hard-fails: its gate fails fast with the reason, long
before the sensor's timeout, and a follow-up task opens a ticket. The run itself ends green.
"""

from __future__ import annotations

from datetime import datetime

try:  # the version-proper import: airflow.sdk on Airflow 3, airflow.decorators on Airflow 2
    from airflow.sdk import dag, task
except ImportError:
    from airflow.decorators import dag, task

from airflow_provider_mail.operators.sender25 import Sender25SendEmailOperator
from airflow_provider_mail.sensors.delivery import Sender25DeliverySensor


@dag(
    dag_id="example_send_and_confirm",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "sender25", "delivery"],
)
def example_send_and_confirm():
    # [START howto_sensor_sender25_delivery]
    send_invoice = Sender25SendEmailOperator(
        task_id="send_invoice",
        to="Ana Souza <ana@example.org>",
        from_email="Acme Cobrança <billing@example.com>",
        subject="Fatura 2026-0042",
        plain_body="Olá Ana, segue a fatura 2026-0042.",
        tag="invoice",
    )
    wait_delivered = Sender25DeliverySensor(
        task_id="wait_until_delivered",
        messages=send_invoice.output,  # the send XCom as is: every recipient's id
        deferrable=True,  # the wait runs in the triggerer, not in a worker slot
        poke_interval=2,
        timeout=600,
    )
    # [END howto_sensor_sender25_delivery]

    @task
    def mark_invoice_as_sent(result: dict) -> str:
        # the gate's result: counts, and the outcomes (all of them up to 20 messages)
        (outcome,) = result["outcomes"].values()
        print(f"invoice delivered to {outcome['recipient']} at {outcome['at']} ({outcome['raw_status']})")
        return outcome["at"]

    mark_invoice_as_sent(wait_delivered.output)

    send_to_bad_address = Sender25SendEmailOperator(
        task_id="send_to_bad_address",
        to="ghost+hardfail@example.org",
        from_email="Acme Cobrança <billing@example.com>",
        subject="Fatura 2026-0043",
        plain_body="Olá, segue a fatura 2026-0043.",
        tag="invoice",
    )
    wait_bad = Sender25DeliverySensor(
        task_id="wait_bad_address",
        messages=send_to_bad_address.output,
        deferrable=True,
        poke_interval=2,
        timeout=600,
        retries=0,
    )

    @task(trigger_rule="all_failed")
    def open_ticket_for_bounce() -> str:
        print("the address bounced: a ticket goes to the billing team to fix the customer's e-mail")
        return "ticket opened"

    send_to_bad_address >> wait_bad >> open_ticket_for_bounce()


example_send_and_confirm()
