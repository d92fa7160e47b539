"""The xmailer watcher DAG of the events tests (the example bounce DAG is linked into this folder)."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from airflow_provider_mail.webhooks import mail_event_details, xmailer_bounce_asset


@dag(
    dag_id="rs_xmailer_failures",
    schedule=xmailer_bounce_asset("xmailer_default", poll_interval=2, lookback=3600),
    start_date=datetime(2026, 1, 1),
    catchup=False,
)
def rs_xmailer_failures():
    @task
    def failed_addresses(*, triggering_asset_events=None) -> list[str]:
        return [
            mail_event_details(e)["recipient"]
            for events in (triggering_asset_events or {}).values()
            for e in events
        ]

    failed_addresses()


rs_xmailer_failures()
