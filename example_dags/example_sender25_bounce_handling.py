"""When a message bounces or cannot be delivered, record the dead address and say which DAG run sent it.

Sender25 posts a signed webhook for each bounce (``MessageBounced``) and each permanent delivery failure
(``MessageDeliveryFailed``) to ``https://<airflow api-server>/mail/webhooks/sender25/sender25_default``;
the provider's api-server plugin verifies it and turns it into an asset event. This DAG is scheduled on
either asset, so it runs once per event (Airflow may put several events in one run: all of them are in
``triggering_asset_events``). Each dead address goes into a suppression list (a JSON-lines file here;
a table in real life), once, with the DAG run that sent the message (its ``X-Airflow-Trace``).

Airflow 3 only: asset events and api-server plugins do not exist on Airflow 2.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime
from pathlib import Path

from airflow.sdk import dag, task

from airflow_provider_mail.webhooks import mail_event_details, sender25_event_asset

#: Where the dead addresses go (one JSON object per line).
SUPPRESSION_LIST = Path(
    os.environ.get("MAIL_SUPPRESSION_LIST")
    or Path(os.environ.get("AIRFLOW_HOME") or tempfile.gettempdir()) / "mail_suppression_list.jsonl"
)


# [START howto_events_bounce_dag]
@dag(
    dag_id="example_sender25_bounce_handling",
    schedule=sender25_event_asset("MessageBounced") | sender25_event_asset("MessageDeliveryFailed"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "sender25", "events"],
)
def example_sender25_bounce_handling():
    @task
    def suppress_dead_addresses(*, triggering_asset_events=None) -> list[dict]:
        """Add each bounced recipient to the suppression list, once per event."""
        known = set()
        if SUPPRESSION_LIST.exists():
            known = {json.loads(line)["key"] for line in SUPPRESSION_LIST.read_text().splitlines() if line}
        added = []
        for events in (triggering_asset_events or {}).values():
            for event in events:
                details = mail_event_details(event)
                if details["key"] in known:  # a retried task run sees the same events again
                    continue
                trace = details["trace"] or {}
                entry = {
                    "key": details["key"],
                    "address": details["recipient"],
                    "event": details["event"],
                    "reason": details["details"],
                    "sent_by_dag": trace.get("dag_id"),
                    "sent_by_run": trace.get("run_id"),
                    "sent_by_task": trace.get("task_id"),
                }
                print(
                    f"suppressing {entry['address']} ({entry['event']}: {entry['reason']}); "
                    f"sent by DAG {entry['sent_by_dag']} run {entry['sent_by_run']}"
                )
                added.append(entry)
                known.add(details["key"])
        if added:
            SUPPRESSION_LIST.parent.mkdir(parents=True, exist_ok=True)
            with SUPPRESSION_LIST.open("a") as stream:
                stream.writelines(json.dumps(entry) + "\n" for entry in added)
        return added

    suppress_dead_addresses()


# [END howto_events_bounce_dag]

example_sender25_bounce_handling()
