"""Events in, on the real Airflow 3 services: Sender25's signed webhooks through the api-server plugin, and the
xmailer watcher in the triggerer.

The emulator posts Postal's webhooks to the api-server's ``/mail/webhooks/sender25/sender25_default`` (key from
the emulator's JWKS, as a connection without ``webhook_public_key`` gets it). Forged and replayed requests are
checked with a "fence": a valid webhook sent after them; once its DAG run exists, a forged one that had been
accepted would have shown up too.
"""

from __future__ import annotations

import json
import smtplib
import socket
import sqlite3
import ssl
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_provider_mail._compat import AIRFLOW_V_3_0_PLUS
from airflow_provider_mail.testing import Fault, Sender25Emulator, XmailerEmulator
from airflow_provider_mail.testing.sender25.webhooks import WebhookSigner
from tests.real_services.harness import AirflowStack, wait_for

pytestmark = [
    pytest.mark.real_services,
    pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="asset events and api-server plugins are Airflow 3"),
]

BOUNCE_DAG = "example_sender25_bounce_handling"
BOUNCE_TASK = "suppress_dead_addresses"
FAILED_ASSET = "sender25.sender25_default.MessageDeliveryFailed"


@pytest.fixture(scope="module")
def webhooks(stack: AirflowStack, sender25_service: Sender25Emulator) -> Iterator[Sender25Emulator]:
    """The package's Sender25 emulator, posting failures and bounces to the api-server."""
    sender25_service.add_webhook(webhook_url(stack), events=["MessageDeliveryFailed", "MessageBounced"])
    stack.wait_dag(BOUNCE_DAG)
    yield sender25_service
    for endpoint in sender25_service._webhooks.endpoints:  # later tests of the package send no webhooks
        endpoint.enabled = False


def webhook_url(stack: AirflowStack, conn_id: str = "sender25_default") -> str:
    return f"http://127.0.0.1:{stack.api_port}/mail/webhooks/sender25/{conn_id}"


def api(stack: AirflowStack, path: str, **params: Any) -> Any:
    response = requests.get(f"http://127.0.0.1:{stack.api_port}/api/v2{path}", params=params, timeout=10)
    response.raise_for_status()
    return response.json()


def db_rows(stack: AirflowStack, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{stack.home / 'airflow.db'}?mode=ro", uri=True, timeout=30) as db:
        return db.execute(sql, args).fetchall()


def asset_event_extras(stack: AirflowStack, asset_name: str) -> list[dict[str, Any]]:
    rows = db_rows(
        stack,
        "SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.name = ? ORDER BY e.id",
        asset_name,
    )
    return [json.loads(extra) for (extra,) in rows]


def suppressed(stack: AirflowStack) -> list[dict[str, Any]]:
    """Every entry the bounce DAG's runs recorded (their XComs), oldest run first."""
    runs = api(stack, f"/dags/{BOUNCE_DAG}/dagRuns", order_by="id", limit=100)["dag_runs"]
    entries = []
    for run in runs:
        entries.extend(stack.xcom(BOUNCE_DAG, run["dag_run_id"], BOUNCE_TASK) or [])
    return entries


def wait_suppressed(stack: AirflowStack, address: str, timeout: float = 90) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        found = [entry for entry in suppressed(stack) if entry["address"] == address]
        return found[0] if found else None

    return wait_for(f"the bounce DAG to suppress {address}", probe, timeout, 0.5)


def envelope(recipient: str, *, event: str = "MessageDeliveryFailed") -> bytes:
    document = {
        "event": event,
        "timestamp": time.time(),
        "payload": {
            "message": {"id": 999999, "token": "tok", "to": recipient, "from": "a@example.com", "tag": None},
            "status": "HardFail",
            "details": "Permanent SMTP delivery error",
            "output": "550 5.1.1 User unknown",
        },
        "uuid": str(uuid.uuid4()),
    }
    return json.dumps(document).encode()


def post(
    stack: AirflowStack, body: bytes, headers: dict[str, str], conn_id: str = "sender25_default"
) -> requests.Response:
    return requests.post(webhook_url(stack, conn_id), data=body, headers=headers, timeout=10)


def fence(stack: AirflowStack, webhooks: Sender25Emulator) -> None:
    """A valid webhook after the others; return once the bounce DAG has processed it."""
    recipient = f"fence-{uuid.uuid4().hex[:8]}@example.org"
    body = envelope(recipient)
    assert post(stack, body, webhooks.webhook_signer.sign(body)).status_code == 200
    wait_suppressed(stack, recipient)


def test_a_hardfail_send_starts_the_bounce_dag_which_names_the_sending_run(stack, webhooks) -> None:
    dead = f"dead-{uuid.uuid4().hex[:8]}+hardfail@example.org"
    run_id = stack.trigger("rs_sender25_plain", {"to": dead})
    assert stack.wait_run("rs_sender25_plain", run_id) == "success"
    entry = wait_suppressed(stack, dead)
    assert entry["event"] == "MessageDeliveryFailed"
    assert entry["reason"].startswith("550")
    assert (entry["sent_by_dag"], entry["sent_by_run"], entry["sent_by_task"]) == (
        "rs_sender25_plain",
        run_id,
        "send",
    )
    (extra,) = [e for e in asset_event_extras(stack, FAILED_ASSET) if e["recipient"] == dead]
    (request,) = [r for r in webhooks.webhook_requests() if r.uuid == extra["uuid"]]
    assert request.attempts[-1].status == 200


def test_forged_webhooks_get_a_bare_4xx_and_start_nothing(stack, webhooks) -> None:
    signer, other = webhooks.webhook_signer, WebhookSigner()
    forged: list[tuple[str, bytes, dict[str, str]]] = []

    def body() -> tuple[str, bytes]:
        recipient = f"forged-{uuid.uuid4().hex[:8]}@example.org"
        return recipient, envelope(recipient)

    recipient, raw = body()
    forged.append((recipient, raw, other.sign(raw)))  # another key
    recipient, raw = body()
    forged.append((recipient, raw.replace(b"HardFail", b"HardFaiL"), signer.sign(raw)))  # one byte changed
    recipient, raw = body()
    forged.append((recipient, raw, signer.sign(envelope("x@example.org"))))  # another body's signature
    recipient, raw = body()
    bad_256 = {
        "X-Postal-Signature-256": other.sign_with(raw, "sha256"),
        "X-Postal-Signature": signer.sign_with(raw, "sha1"),
    }
    forged.append((recipient, raw, bad_256))  # SHA-1 valid, but the SHA-256 present is required and wrong
    recipient, raw = body()
    forged.append((recipient, raw, {}))  # no signature header
    for recipient, raw, headers in forged:
        response = post(stack, raw, headers)
        assert (recipient, response.status_code, response.content) == (recipient, 403, b"")
    recipient, raw = body()
    response = post(
        stack, raw, signer.sign(raw), conn_id="no_such_connection"
    )  # an unknown id: the same answer
    assert (response.status_code, response.content) == (403, b"")
    fence(stack, webhooks)
    names = {entry["address"] for entry in suppressed(stack)}
    extras = {e["recipient"] for e in asset_event_extras(stack, FAILED_ASSET)}
    assert not {recipient for recipient, _, _ in forged} & (names | extras)
    assert not db_rows(stack, "SELECT id FROM asset WHERE name LIKE 'sender25.no_such_connection.%'")


def test_the_same_uuid_ten_times_is_one_asset_event(stack, webhooks) -> None:
    recipient = f"twice-{uuid.uuid4().hex[:8]}@example.org"
    raw = envelope(recipient)
    headers = webhooks.webhook_signer.sign(raw)
    assert [post(stack, raw, headers).status_code for _ in range(10)] == [200] * 10
    wait_suppressed(stack, recipient)
    fence(stack, webhooks)
    assert len([e for e in asset_event_extras(stack, FAILED_ASSET) if e["recipient"] == recipient]) == 1
    assert len([e for e in suppressed(stack) if e["address"] == recipient]) == 1


def test_api_server_killed_with_a_webhook_in_flight_then_postals_retry_is_recorded_once(
    stack, webhooks
) -> None:
    recipient = f"inflight-{uuid.uuid4().hex[:8]}@example.org"
    payload = json.loads(envelope(recipient))["payload"]
    payload["message"]["id"] = 1  # the receiver reads message 1's trace: its answer is held back
    webhooks.inject(Fault.SLOW, delay=20)
    (request,) = webhooks.trigger_webhook("MessageDeliveryFailed", payload)

    def held() -> list:
        return [r for r in webhooks.requests if r.path == "/api/v1/messages/message" and r.fault == "SLOW"]

    wait_for("the receiver's lookup to be held", held, 30, 0.01)  # it waits up to 2 s: kill now
    stack.kill_service("api-server")
    wait_for("the attempt to fail", lambda: request.attempts, 30, 0.05)
    assert request.attempts[0].status is None, request.attempts
    stack.start_service("api-server")
    stack.client.wait_healthy(timeout=120)
    webhooks.advance(120)  # Postal's first retry
    wait_for("the retry to be delivered", lambda: request.done == "delivered", 60, 0.1)
    wait_suppressed(stack, recipient)
    assert len([e for e in asset_event_extras(stack, FAILED_ASSET) if e["recipient"] == recipient]) == 1


def test_a_10_mb_body_is_refused_without_being_read(stack, webhooks) -> None:
    ten_mb, chunk = 10 * 1024 * 1024, b"x" * 65536
    with socket.create_connection(("127.0.0.1", stack.api_port), timeout=10) as sock:
        head = (
            "POST /mail/webhooks/sender25/sender25_default HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: application/json\r\nContent-Length: {ten_mb}\r\n\r\n"
        )
        sock.sendall(head.encode())
        sent, answer = 0, b""
        sock.settimeout(0.05)
        while sent < ten_mb and not answer:
            try:
                answer = sock.recv(4096)
            except TimeoutError:
                try:
                    sock.sendall(chunk)
                except OSError:
                    break
                sent += len(chunk)
        sock.settimeout(10)
        answer = answer or sock.recv(4096)
    assert answer.split(b"\r\n", 1)[0] == b"HTTP/1.1 403 Forbidden"
    assert sent < ten_mb


def test_no_key_in_any_db_cell_log_or_event_extra(stack, webhooks) -> None:
    signer = webhooks.webhook_signer
    secrets = {
        "api key": webhooks.api_key,
        "dkim p=": signer.dkim_value,
        "pem body": "".join(signer.public_pem.splitlines()[1:-1])[:64],
        "jwk n": signer.jwk()["n"][:64],
    }
    tables = [name for (name,) in db_rows(stack, "SELECT name FROM sqlite_master WHERE type='table'")]
    found = []
    for table in tables:
        if table == "connection":  # where a configured key belongs
            continue
        for row in db_rows(stack, f'SELECT * FROM "{table}"'):
            cells = " ".join(str(cell) for cell in row)
            found += [(table, what) for what, value in secrets.items() if value in cells]
    logs = [
        path for path in stack.home.rglob("*") if path.is_file() and path.suffix in (".log", ".out", ".json")
    ]
    for path in logs:
        text = path.read_text(errors="replace")
        found += [(str(path), what) for what, value in secrets.items() if value in text]
    assert asset_event_extras(stack, FAILED_ASSET)
    assert found == []


def relay_failures(emulator: XmailerEmulator, *recipients: str) -> None:
    with smtplib.SMTP(emulator.smtp_host, emulator.smtp_port, timeout=10) as smtp:
        smtp.starttls(context=ssl.create_default_context(cafile=emulator.ca_cert_path))
        smtp.login(emulator.username, emulator.password)
        smtp.sendmail("app@example.com", list(recipients), b"Subject: Oi\r\n\r\nOla")


def test_xmailer_watcher_emits_each_failure_once_across_a_triggerer_kill(stack, xmailer_service) -> None:
    emulator, _ = xmailer_service
    stack.wait_dag("rs_xmailer_failures")
    tag = uuid.uuid4().hex[:6]
    before = [f"w1-{tag}+hardfail@example.org", f"w2-{tag}+hardfail@example.org"]
    during = [f"w3-{tag}+hardfail@example.org", f"w4-{tag}+hardfail@example.org"]
    relay_failures(emulator, *before, f"ok-{tag}@example.org")

    def emitted() -> list[str]:
        extras = asset_event_extras(stack, "xmailer.xmailer_default.failures")
        return [e["payload"]["recipient"] for e in extras if tag in e["payload"]["recipient"]]

    wait_for("the watcher to emit the first failures", lambda: set(before) <= set(emitted()), 90, 0.5)
    stack.kill_service("triggerer")
    relay_failures(emulator, *during)
    stack.start_service("triggerer")
    # The killed triggerer's watcher moves once its heartbeat is older than the health threshold (30 s).
    wait_for(
        "the restarted watcher to emit the new failures", lambda: set(during) <= set(emitted()), 150, 0.5
    )
    stack.client.wait_healthy(timeout=120)
    relay_failures(emulator, f"w5-{tag}+hardfail@example.org")  # a fence: one more round after the restart
    wait_for("the fence failure", lambda: f"w5-{tag}+hardfail@example.org" in emitted(), 60, 0.5)
    assert sorted(emitted()) == sorted([*before, *during, f"w5-{tag}+hardfail@example.org"])
