"""The events part of `make demo`: a `+hardfail` send becomes a run of the bounce DAG, through a real
api-server receiving Sender25's signed webhook (Airflow 3).

:func:`run_events_demo` starts the Sender25 emulator with a webhook URL pointing at the api-server, starts
Airflow's services (api-server, scheduler, dag-processor, triggerer) in ``.demo/events-home``, runs a small
DAG that sends an invoice to ``cliente+hardfail@example.org``, and waits until
``example_sender25_bounce_handling`` has recorded the dead address and named the run that sent it.
``scripts/run_demo.py`` calls it; ``python scripts/demo_events.py`` runs it alone.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEND_DAG = """
from datetime import datetime

from airflow.sdk import dag

from airflow_provider_mail.operators.sender25 import Sender25SendEmailOperator


@dag(dag_id="demo_send_invoice", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def demo_send_invoice():
    Sender25SendEmailOperator(
        task_id="send_invoice",
        to="cliente+hardfail@example.org",
        from_email="billing@example.com",
        subject="Fatura 2026-0042",
        plain_body="Segue a fatura.",
        tag="invoice",
    )


demo_send_invoice()
"""


def run_events_demo() -> int:
    """Run the demo; print what happened; return 0 when the bounce DAG named the sending run."""
    from airflow_provider_mail._compat import AIRFLOW_V_3_0_PLUS

    if not AIRFLOW_V_3_0_PLUS:
        print("\n== events: skipped (webhooks into asset events need Airflow 3)")
        return 0
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from airflow_provider_mail.testing import Sender25Emulator
    from tests.real_services.harness import AirflowStack, wait_for

    demo = ROOT / ".demo"
    home, dags = demo / "events-home", demo / "events-dags"
    for folder in (home, dags):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    (dags / "demo_send_invoice.py").write_text(SEND_DAG)
    (dags / "example_sender25_bounce_handling.py").symlink_to(
        ROOT / "example_dags" / "example_sender25_bounce_handling.py"
    )
    started = time.monotonic()
    with Sender25Emulator(verified_domains=("example.com",)) as emulator:
        env = {
            "AIRFLOW_CONN_SENDER25_DEFAULT": emulator.airflow_connection(),  # no key: the JWKS is used
            "MAIL_SUPPRESSION_LIST": str(demo / "suppression-list.jsonl"),
        }
        stack = AirflowStack(home, dags, env=env, pythonpath=[ROOT])
        url = f"http://127.0.0.1:{stack.api_port}/mail/webhooks/sender25/sender25_default"
        emulator.add_webhook(url, events=["MessageBounced", "MessageDeliveryFailed"])
        print(f"\n== events: Sender25 emulator {emulator.base_url} posts signed webhooks to {url}")
        with stack:
            print(f"  Airflow services healthy after {stack.timings.healthy:.0f} s (logs: {home})")
            stack.wait_dag("demo_send_invoice")
            stack.wait_dag("example_sender25_bounce_handling")
            send_run = stack.trigger("demo_send_invoice")
            state = stack.wait_run("demo_send_invoice", send_run)
            print(f"  sent the invoice: demo_send_invoice run {send_run} -> {state}")
            request = wait_for("the webhook", lambda: [r for r in emulator.webhook_requests() if r.done], 60)[
                0
            ]
            attempt = request.attempts[-1]
            print(
                f"  Sender25 posted {request.event} (uuid {request.uuid}), signed "
                f"X-Postal-Signature-256 + X-Postal-Signature, kid {emulator.webhook_signer.kid[:12]}…: "
                f"api-server answered {attempt.status}"
            )
            entry = wait_for("the bounce DAG", lambda: _suppressed(stack), 120)
            print(f"  example_sender25_bounce_handling run {entry['run_id']} -> {entry['state']}")
            print(f"  suppression list entry: {json.dumps(entry['entry'])}")
            named = entry["entry"].get("sent_by_run") == send_run
            print(f"  it names the run that sent the invoice: {named}")
    print(f"== events: {'succeeded' if named else 'FAILED'} in {time.monotonic() - started:.0f} s")
    return 0 if named else 1


def _suppressed(stack: object) -> dict | None:
    runs = stack.client._get("/dags/example_sender25_bounce_handling/dagRuns")["dag_runs"]  # type: ignore[attr-defined]
    for run in runs:
        if run["state"] != "success":
            continue
        entries = stack.xcom("example_sender25_bounce_handling", run["dag_run_id"], "suppress_dead_addresses")  # type: ignore[attr-defined]
        if entries:
            return {"run_id": run["dag_run_id"], "state": run["state"], "entry": entries[0]}
    return None


if __name__ == "__main__":
    sys.exit(run_events_demo())
