"""One message per recipient with dynamic task mapping over a list produced upstream, then one gate.

The delivery sensor takes the mapped send's output as it is (Airflow hands it over as a lazy
sequence of every mapped XCom) and waits until all the messages are delivered.
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
    dag_id="example_sender25_bulk",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"count": 3},
    tags=["example", "sender25"],
)
def example_sender25_bulk():
    @task
    def customers_to_notify(params: dict | None = None) -> list[str]:
        """A real DAG would query a table; here the list is made from a count."""
        count = int((params or {}).get("count", 3))
        return [f"Cliente {number} <cliente{number}@example.org>" for number in range(1, count + 1)]

    @task
    def vip_messages(customers: list[str]) -> list[dict]:
        """Per-recipient subjects and bodies, for ``expand_kwargs``."""
        return [
            {
                "to": customer,
                "subject": f"Obrigado, {customer.split('<')[0].strip()}!",
                "plain_body": "Você ganhou frete grátis no próximo pedido.",
            }
            for customer in customers[:3]
        ]

    customers = customers_to_notify()

    # [START howto_operator_sender25_mapped]
    shipping = Sender25SendEmailOperator.partial(
        task_id="notify_customer",
        from_email="Acme <news@example.com>",
        subject="Seu pedido foi enviado",
        # A run triggered without a logical date (Airflow 3) has no `ds`: fall back to its run_after.
        plain_body="Olá! Seu pedido saiu para entrega em "
        "{{ ds if ds is defined else dag_run.run_after | ds }}.",
        tag="shipping",
    ).expand(to=customers)

    Sender25SendEmailOperator.partial(
        task_id="thank_vip", from_email="Acme <news@example.com>", tag="vip"
    ).expand_kwargs(vip_messages(customers))
    # [END howto_operator_sender25_mapped]

    # [START howto_sensor_sender25_mapped_gate]
    Sender25DeliverySensor(
        task_id="wait_until_delivered",
        messages=shipping.output,  # every mapped send's XCom, as is
        poke_interval=2,
        timeout=600,
    )
    # [END howto_sensor_sender25_mapped_gate]


example_sender25_bulk()
