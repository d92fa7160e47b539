"""A failing task whose failure is reported by e-mail through Sender25Notifier.

The failing step is followed by a clean-up task that runs whatever happened, so the run itself ends
green while the alert goes out.
"""

from __future__ import annotations

from datetime import datetime

try:  # the version-proper import: airflow.sdk on Airflow 3, airflow.decorators on Airflow 2
    from airflow.sdk import dag, task
except ImportError:
    from airflow.decorators import dag, task

from airflow_provider_mail.notifications.sender25 import Sender25Notifier


@dag(
    dag_id="example_sender25_alerts",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "sender25"],
)
def example_sender25_alerts():
    # [START howto_notifier_sender25]
    @task(
        retries=0,
        on_failure_callback=Sender25Notifier(
            to="oncall@example.org",
            from_email="Airflow <airflow@example.com>",
        ),
    )
    def load_payments() -> None:
        raise ValueError("payments file for today is missing")

    # [END howto_notifier_sender25]

    @task(trigger_rule="all_done")
    def clean_up() -> str:
        return "temporary files removed"

    load_payments() >> clean_up()


example_sender25_alerts()
