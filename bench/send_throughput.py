"""Send throughput: our hook against the baselines a user would pick instead, same emulator, same run.

Each client sends the same valid message N times to a Sender25 emulator running in its own process.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import threading
import time

import requests

from bench._common import API_KEY, emulator_process, sender25_conn_json

MESSAGE = {
    "to": ["ana@example.org"],
    "from": "bench@example.com",
    "subject": "Benchmark",
    "plain_body": "hello",
}
HOOK_KWARGS = {
    "to": ["ana@example.org"],
    "from_email": "bench@example.com",
    "subject": "Benchmark",
    "plain_body": "hello",
}
PATH = "/api/v1/send/message"
HEADERS = {"X-Server-API-Key": API_KEY, "Content-Type": "application/json"}


def raw_keepalive(base_url: str, count: int) -> None:
    """The ceiling: one keep-alive http.client connection, a pre-encoded body, no parsing beyond JSON."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port))
    body = json.dumps(MESSAGE).encode()
    for _ in range(count):
        connection.request("POST", PATH, body=body, headers=HEADERS)
        response = connection.getresponse()
        assert json.loads(response.read())["status"] == "success"
    connection.close()


def requests_new_connection(base_url: str, count: int) -> None:
    """What many scripts do: requests.post per call, a new TCP connection each time."""
    for _ in range(count):
        assert (
            requests.post(base_url + PATH, json=MESSAGE, headers=HEADERS, timeout=30).json()["status"]
            == "success"
        )


def airflow_http_hook(base_url: str, count: int) -> None:
    """What an Airflow user would reach for: HttpHook.run from apache-airflow-providers-http."""
    from airflow.providers.http.hooks.http import HttpHook

    host, port = base_url.removeprefix("http://").split(":")
    os.environ["AIRFLOW_CONN_BENCH_HTTP"] = json.dumps(
        {"conn_type": "http", "host": host, "port": int(port), "schema": "http"}
    )
    hook = HttpHook(method="POST", http_conn_id="bench_http")
    for _ in range(count):
        response = hook.run(PATH, json=MESSAGE, headers=HEADERS)
        assert response.json()["status"] == "success"


def our_hook(base_url: str, count: int) -> None:
    """Sender25Hook.send_message: validation, payload building, pooled session, envelope checks."""
    from airflow_provider_mail.hooks.sender25 import Sender25Hook

    os.environ["AIRFLOW_CONN_SENDER25_DEFAULT"] = sender25_conn_json(base_url)
    with Sender25Hook() as hook:
        for _ in range(count):
            hook.send_message(**HOOK_KWARGS)


def emulator_ceiling(base_url: str, count: int, clients: int = 4) -> None:
    """Several raw clients at once: if this beats one client, the emulator is not the limit."""
    per_client = count // clients
    threads = [threading.Thread(target=raw_keepalive, args=(base_url, per_client)) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


CLIENTS = {
    "raw_keepalive": raw_keepalive,
    "requests_new_connection": requests_new_connection,
    "airflow_http_hook": airflow_http_hook,
    "sender25_hook": our_hook,
    "emulator_4_clients": emulator_ceiling,
}


def main(count: int = 2000, smoke: bool = False) -> dict:
    """Each client sends ``count`` messages (``smoke``: 20, to prove the benchmark runs)."""
    count = 20 if smoke else count
    results = {}
    with emulator_process("sender25") as base_url:
        our_hook(base_url, 50)  # warm-up: imports, first connection
        raw_keepalive(base_url, 50)
        for name, client in CLIENTS.items():
            started = time.perf_counter()
            client(base_url, count)
            elapsed = time.perf_counter() - started
            results[name] = {
                "messages": count,
                "seconds": round(elapsed, 3),
                "per_second": round(count / elapsed, 1),
            }
    ours = results["sender25_hook"]["per_second"]
    ratios = {
        f"ours_over_{name}": round(ours / r["per_second"], 3)
        for name, r in results.items()
        if name != "sender25_hook"
    }
    return {"clients": results, "ratios": ratios}


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)))
