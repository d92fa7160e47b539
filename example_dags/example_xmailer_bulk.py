"""Receipts to a few customers through the xmailer relay in one bulk task, then wait for the report.

``send_receipts`` sends one rendered message per row over pooled SMTP sessions; ``wait_delivered``
reads the delivery report once per poke for the whole batch (a message not in the report yet is
pending, never failed) and ends with each message's outcome.
"""

from __future__ import annotations

from datetime import datetime

try:  # the version-proper import: airflow.sdk on Airflow 3, airflow.decorators on Airflow 2
    from airflow.sdk import dag
except ImportError:
    from airflow.decorators import dag

from airflow_provider_mail.operators.bulk import XmailerBulkSendOperator
from airflow_provider_mail.sensors.delivery import XmailerDeliverySensor

CUSTOMERS = [
    {"to": "Ana Souza <ana@example.org>", "name": "Ana", "total": "99,90"},
    {"to": "bo@example.org", "name": "Bo", "total": "15,00"},
    {"to": "Caio <caio@example.org>", "name": "Caio", "total": "250,00"},
]


@dag(
    dag_id="example_xmailer_bulk",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "xmailer", "bulk"],
)
def example_xmailer_bulk():
    # [START howto_operator_xmailer_bulk]
    receipts = XmailerBulkSendOperator(
        task_id="send_receipts",
        rows=CUSTOMERS,  # or a .csv/.jsonl path or URL, streamed
        from_email="Acme Recibos <recibos@example.com>",
        subject="Recibo de {{ row.name }}",
        plain_body="Olá {{ row.name }}, recebemos R$ {{ row.total }}. Obrigado!",
    )
    # [END howto_operator_xmailer_bulk]

    # [START howto_sensor_xmailer_delivery]
    XmailerDeliverySensor(
        task_id="wait_delivered",
        messages=receipts.output,  # the bulk (or single send) XCom as is
        poke_interval=5,
        timeout=600,
    )
    # [END howto_sensor_xmailer_delivery]


example_xmailer_bulk()
