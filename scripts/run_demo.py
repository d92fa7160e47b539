"""`make demo`: run the example DAGs with `airflow dags test` against the embedded emulator, then report.

Starts the Sender25 emulator on loopback, points ``sender25_default`` at it and runs four DAGs, each in
a separate `airflow` process: the hook calls, the invoice send, the main story, send-and-confirm
(send, wait in the triggerer until delivered, act on it; a bounce fails fast), and a bulk send of 400
statements. For each it prints the task timeline and what the emulator received. Then, on Airflow 3,
the events story (scripts/demo_events.py): a ``+hardfail`` send becomes a run of the bounce-handling DAG
through a real api-server receiving the emulator's signed webhook.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from airflow_provider_mail._shared.task_context import TRACE_HEADER
from airflow_provider_mail.testing import Sender25Emulator

ROOT = Path(__file__).resolve().parent.parent
DEMO_DAGS = os.environ.get(
    "DEMO_DAGS",
    "example_sender25_hook,example_sender25_send,example_send_and_confirm,example_sender25_statements",
)
#: DAG runs given a conf: the statements DAG sends a few hundred statements in one bulk task.
DEMO_CONF = {"example_sender25_statements": '{"count": 400}'}
TASK_EDGE = re.compile(
    r"^(?P<at>\d{4}-\d\d-\d\dT[\d:.]+)Z? .*\[DAG TEST\] (?P<edge>starting|end task) task_id=(?P<task>\S+)"
)
STATE = re.compile(r"new_state=(?P<state>\w+)")
HIGHLIGHT = re.compile(
    r"(delivery poll \d+: .*?|delivery after .*?|message \d+ to \S+: \w+|invoice delivered .*?|"
    r"the address bounced.*?|DeliveryFailedError: .*?|bulk send: .*?finished in [\d.]+ s|"
    r"statements: .*?)(?:\s+\[|$)"
)


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


def timeline(output: str) -> list[str]:
    """Per task: how long it ran (from the `[DAG TEST]` start/end lines) and how it ended."""
    started: dict[str, datetime] = {}
    ended: set[str] = set()
    states: dict[str, list[str]] = {}
    lines = []
    current = ""
    for line in output.splitlines():
        if (found := STATE.search(line)) and current:
            states.setdefault(current, []).append(found["state"])
        if not (edge := TASK_EDGE.search(line)):
            continue
        at = datetime.fromisoformat(edge["at"])
        if edge["edge"] == "starting":
            current = edge["task"]
            started.setdefault(edge["task"], at)
        elif edge["task"] in started and edge["task"] not in ended:
            ended.add(edge["task"])
            seen = " -> ".join(dict.fromkeys(states.get(edge["task"], []))) or "done"
            lines.append(
                f"    {edge['task']:<24} {(at - started[edge['task']]).total_seconds():6.1f} s  {seen}"
            )
    return lines


def received_by(emulator: Sender25Emulator, dag_id: str) -> list[str]:
    lines = []
    for message in emulator.messages():
        if (
            f"dag_id={dag_id};" not in str(message.headers.get(TRACE_HEADER, ""))
            and dag_id != "example_sender25_hook"
        ):
            continue
        if dag_id == "example_sender25_hook" and message.headers.get(TRACE_HEADER):
            continue
        attachments = [(name, len(data)) for name, _, data in message.attachments]
        if len(lines) >= 12:  # a bulk DAG sends hundreds: show the first ones
            lines.append("    …")
            break
        lines.append(
            f"    id {message.id} to {message.rcpt_to}: {message.subject!r} tag={message.tag!r} "
            f"attachments={attachments} -> {message.status}"
        )
        lines.extend(f"      attempt {d.id}: {d.status} ({d.output})" for d in message.deliveries)
    return lines


def main() -> int:
    worst = 0
    with Sender25Emulator(delivery_delay=8.0) as emulator:
        print(
            f"Sender25 emulator listening on {emulator.base_url} (messages are delivered 8 s after sending)"
        )
        env = airflow_env(emulator)
        code, output = run_airflow(env, "db", "migrate", log_name="db-migrate.log")
        if code:
            print(output[-3000:])
            return code
        for dag_id in DEMO_DAGS.split(","):
            started = time.monotonic()
            conf = ["-c", DEMO_CONF[dag_id]] if dag_id in DEMO_CONF else []
            code, output = run_airflow(env, "dags", "test", *conf, dag_id, log_name=f"{dag_id}.log")
            verdict = "succeeded" if code == 0 else f"FAILED (exit {code})"
            print(
                f"\n== {dag_id}: {verdict} in {time.monotonic() - started:.1f} s  (log: .demo/{dag_id}.log)"
            )
            print("  tasks:")
            print("\n".join(timeline(output)) or "    (no task timeline found)")
            notes = list(
                dict.fromkeys(m.group(1) for line in output.splitlines() if (m := HIGHLIGHT.search(line)))
            )
            if notes:
                print("  what happened:")
                print("\n".join(f"    {note[:160]}" for note in notes))
            print("  the emulator received:")
            print("\n".join(received_by(emulator, dag_id)) or "    nothing")
            if code:
                print(output[-4000:])
            worst = worst or code
        print(
            f"\n{len(emulator.requests)} API requests, {len(emulator.accepted_sends())} sends accepted, "
            f"{len(emulator.messages())} messages stored."
        )
    # Events: a +hardfail send turns into a run of the bounce-handling DAG through a real api-server
    # receiving the emulator's signed webhook (Airflow 3).
    from demo_events import run_events_demo

    return worst or run_events_demo()


if __name__ == "__main__":
    sys.exit(main())
