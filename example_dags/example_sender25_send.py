"""Send an invoice: HTML and text bodies from template files, an attachment made upstream, cc and tag."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

try:  # the version-proper import: airflow.sdk on Airflow 3, airflow.decorators on Airflow 2
    from airflow.sdk import dag, task
except ImportError:
    from airflow.decorators import dag, task

from airflow_provider_mail.operators.sender25 import Sender25SendEmailOperator


@dag(
    dag_id="example_sender25_send",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={
        "customer_name": "Ana Souza",
        "customer_email": "Ana Souza <ana@example.org>",
        "invoice_number": "2026-0042",
        "total": "1.234,56",
    },
    tags=["example", "sender25"],
)
def example_sender25_send():
    @task
    def render_invoice(params: dict | None = None) -> str:
        """Write the invoice file the mail attaches (a real DAG would render a PDF)."""
        params = params or {}
        path = Path(tempfile.mkdtemp(prefix="invoice-")) / f"fatura-{params['invoice_number']}.csv"
        path.write_text(f"número;total\n{params['invoice_number']};{params['total']}\n", encoding="utf-8")
        return str(path)

    invoice_path = render_invoice()

    # [START howto_operator_sender25_send_email]
    send_invoice = Sender25SendEmailOperator(
        task_id="send_invoice",
        to="{{ params.customer_email }}",
        cc="financeiro@example.org",
        from_email="Acme Cobrança <billing@example.com>",
        subject="Fatura {{ params.invoice_number }} ({{ ds if ds is defined else dag_run.run_after | ds }})",
        html_body="templates/invoice.html",
        plain_body="templates/invoice.txt",
        attachments=["{{ ti.xcom_pull(task_ids='render_invoice') }}"],
        tag="invoice",
        headers={"X-Invoice-Number": "{{ params.invoice_number }}"},
    )
    # [END howto_operator_sender25_send_email]
    invoice_path >> send_invoice


example_sender25_send()
