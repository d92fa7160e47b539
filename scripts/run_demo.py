"""`make demo`: run an example DAG with `airflow dags test` against the embedded emulator, then report.

Starts the Sender25 emulator on loopback, points ``sender25_default`` at it, runs the DAG in a
separate `airflow` process and prints what the emulator received and how each message ended.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from airflow_provider_mail.testing import Sender25Emulator

ROOT = Path(__file__).resolve().parent.parent
DAG_ID = os.environ.get("DEMO_DAG_ID", "example_sender25_hook")
TASK_LINE = re.compile(r"((?:message \d+ to \S+: \w+)|(?:attempt \d+: .*?))(?:\s+\[|$)")


def airflow_env(emulator: Sender25Emulator) -> dict[str, str]:
    import airflow

    home = ROOT / ".demo" / f"airflow-{airflow.__version__}"
    home.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_SENDER25_DEFAULT": emulator.airflow_connection(from_email="billing@example.com"),
    }


def run_airflow(env: dict[str, str], *args: str, log_name: str) -> tuple[int, str]:
    airflow_bin = str(Path(sys.executable).with_name("airflow"))
    log_path = ROOT / ".demo" / log_name
    with log_path.open("w") as log_file:
        code = subprocess.call([airflow_bin, *args], env=env, stdout=log_file, stderr=subprocess.STDOUT)
    return code, log_path.read_text()


def main() -> int:
    with Sender25Emulator(delivery_delay=3.0) as emulator:
        print(f"Sender25 emulator listening on {emulator.base_url}")
        env = airflow_env(emulator)
        code, output = run_airflow(env, "db", "migrate", log_name="db-migrate.log")
        if code:
            print(output[-3000:])
            return code
        started = time.monotonic()
        code, output = run_airflow(env, "dags", "test", DAG_ID, log_name=f"{DAG_ID}.log")
        elapsed = time.monotonic() - started
        print(f"\n`airflow dags test {DAG_ID}` exited {code} after {elapsed:.1f} s")
        print(f"(full log: .demo/{DAG_ID}.log)")
        for line in output.splitlines():
            found = TASK_LINE.search(line)
            if found:
                print("  task log |", found.group(1))
        print("\nWhat the emulator received:")
        for message in emulator.messages():
            print(f"  message id {message.id} (token {message.token}) to {message.rcpt_to}")
            print(f"    subject {message.subject!r}, tag {message.tag!r}, Message-ID {message.message_id}")
            print(f"    attachments: {[(name, len(data)) for name, _, data in message.attachments]}")
            print(f"    status now: {message.status}")
            for delivery in message.deliveries:
                print(
                    f"    delivery {delivery.id}: {delivery.status} - {delivery.details} ({delivery.output})"
                )
        accepted = len(emulator.accepted_sends())
        print(f"\nAPI requests: {len(emulator.requests)}; send requests accepted: {accepted}")
        if code:
            print(output[-4000:])
        return code


if __name__ == "__main__":
    sys.exit(main())
