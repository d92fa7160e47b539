"""Send a receipt through the xmailer SMTP relay and keep its queue id for the delivery report."""

from __future__ import annotations

from datetime import datetime

try:  # the version-proper import: airflow.sdk on Airflow 3, airflow.decorators on Airflow 2
    from airflow.sdk import dag, task
except ImportError:
    from airflow.decorators import dag, task

from airflow_provider_mail.operators.xmailer import XmailerSendEmailOperator


@dag(
    dag_id="example_xmailer_send",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "xmailer"],
)
def example_xmailer_send():
    # [START howto_operator_xmailer_send]
    send = XmailerSendEmailOperator(
        task_id="send_receipt",
        to=["Ana Souza <ana@example.org>", "bo@example.org"],
        from_email="Acme Recibos <recibos@example.com>",
        subject="Recibo {{ ds if ds is defined else dag_run.run_after | ds }}",
        html_body="<p>Obrigado pela compra!</p>",
        plain_body="Obrigado pela compra!",
        attachments=[("recibo.txt", b"Total: R$ 99,90\n", "text/plain")],
    )
    # [END howto_operator_xmailer_send]

    @task
    def remember_queue_id(result: dict) -> str:
        """The queue id is what the report (and the delivery sensor) match on."""
        print(f"queued as {result['queue_id']} for {result['accepted']}; refused: {result['refused']}")
        return result["queue_id"]

    remember_queue_id(send.output)


example_xmailer_send()
