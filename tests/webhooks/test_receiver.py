"""The receiver over real HTTP with the real metadata database, fed by the emulator's Postal webhooks."""

from __future__ import annotations

import json
import socket
import time
import uuid

import pytest
import requests

from airflow_provider_mail._compat import AIRFLOW_V_3_0_PLUS
from airflow_provider_mail.testing import Sender25Emulator
from tests.webhooks.conftest import Served, asset_events

pytestmark = pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="asset events are Airflow 3")


def wait_delivered(emulator: Sender25Emulator, count: int, timeout: float = 20) -> list:
    deadline = time.monotonic() + timeout
    while True:
        done = [r for r in emulator.webhook_requests() if r.done]
        if len(done) >= count:
            return done
        assert time.monotonic() < deadline, emulator.webhook_requests()
        time.sleep(0.05)


def envelope(event: str = "MessageDeliveryFailed", **changes: object) -> bytes:
    document = {
        "event": event,
        "timestamp": time.time(),
        "payload": {
            "message": {"id": 99, "token": "t", "to": f"x-{uuid.uuid4().hex[:6]}@example.org"},
            "status": "HardFail",
        },
        "uuid": str(uuid.uuid4()),
        **changes,
    }
    return json.dumps(document).encode()


def post(receiver: Served, conn_id: str, body: bytes, headers: dict[str, str]) -> int:
    return requests.post(receiver.url(conn_id), data=body, headers=headers, timeout=10).status_code


def test_a_signed_hardfail_webhook_becomes_one_asset_event_linked_to_its_send(
    receiver: Served, webhook_emulator: Sender25Emulator, monkeypatch
) -> None:
    from airflow_provider_mail.hooks.sender25 import Sender25Hook

    webhook_emulator.add_webhook(receiver.url("sender25_hooks"), events=["MessageDeliveryFailed"])
    rcpt = f"ana-{uuid.uuid4().hex[:6]}+hardfail@example.org"
    trace = "dag_id=billing; task_id=send_invoice; run_id=scheduled__2026-01-01; map_index=-1; try_number=1"
    monkeypatch.setenv("AIRFLOW_CONN_SENDER25_SEND", webhook_emulator.airflow_connection())
    sent = Sender25Hook("sender25_send").send_message(
        to=[rcpt],
        from_email="billing@acme.example",
        subject="Invoice",
        plain_body="hi",
        tag="invoices",
        headers={"X-Airflow-Trace": trace},
    )
    webhook_emulator.advance(1)
    (request,) = wait_delivered(webhook_emulator, 1)
    assert request.attempts[-1].status == 200
    (extra,) = [
        e for e in asset_events("sender25.sender25_hooks.MessageDeliveryFailed") if e["recipient"] == rcpt
    ]
    assert extra["uuid"] == request.uuid
    assert extra["message_id"] == sent["messages"][rcpt]["id"]
    assert (extra["status"], extra["tag"]) == ("HardFail", "invoices")
    assert extra["output"].startswith("550")
    assert extra["trace"] == {
        "dag_id": "billing",
        "task_id": "send_invoice",
        "run_id": "scheduled__2026-01-01",
        "map_index": -1,
        "try_number": 1,
    }
    assert webhook_emulator.webhook_signer.public_pem not in json.dumps(extra)


@pytest.mark.parametrize("conn_id", ["sender25_hooks", "sender25_dkim", "sender25_jwks"])
def test_every_key_form_accepts_postals_signature(receiver, webhook_emulator, conn_id) -> None:
    body = envelope("MessageSent")
    assert post(receiver, conn_id, body, webhook_emulator.webhook_signer.sign(body)) == 200
    assert [e for e in asset_events(f"sender25.{conn_id}.MessageSent") if e["uuid"] in body.decode()]


def test_the_jwks_is_fetched_once_and_cached(receiver, webhook_emulator) -> None:
    for _ in range(3):
        body = envelope("MessageHeld")
        assert post(receiver, "sender25_jwks", body, webhook_emulator.webhook_signer.sign(body)) == 200
    fetched = [r for r in webhook_emulator.requests if r.path == "/.well-known/jwks.json"]
    assert len(fetched) == 1


def _forgeries(signer, other) -> list:
    body = envelope()
    sha1_only = {"X-Postal-Signature": signer.sign_with(body, "sha1")}
    changed = body.replace(b'"HardFail"', b'"HardFaiL"')
    return [
        ("other-key", "sender25_hooks", body, other.sign(body)),
        ("one-byte-changed", "sender25_hooks", changed, signer.sign(body)),
        ("other-bodys-signature", "sender25_hooks", body, signer.sign(envelope())),
        ("sha1-where-sha256-required", "sender25_nosha1", body, sha1_only),
        ("no-header", "sender25_hooks", body, {}),
        ("unknown-connection", "no_such_conn", body, signer.sign(body)),
        ("not-a-sender25-connection", "not_sender25", body, signer.sign(body)),
        ("stale", "sender25_hooks", envelope(timestamp=time.time() - 3 * 3600), None),
        ("not-an-envelope", "sender25_hooks", b'{"hello": 1}', None),
    ]


def test_forged_or_stale_webhooks_get_the_same_bare_403_and_record_nothing(
    receiver, webhook_emulator
) -> None:
    from airflow_provider_mail.testing.sender25.webhooks import WebhookSigner

    signer, other = webhook_emulator.webhook_signer, WebhookSigner()
    before = len(asset_events("sender25.sender25_hooks.MessageDeliveryFailed"))
    for name, conn_id, body, headers in _forgeries(signer, other):
        response = requests.post(
            receiver.url(conn_id),
            data=body,
            headers=headers if headers is not None else signer.sign(body),
            timeout=10,
        )
        assert (name, response.status_code, response.content) == (name, 403, b"")
    assert len(asset_events("sender25.sender25_hooks.MessageDeliveryFailed")) == before
    assert asset_events("sender25.no_such_conn.MessageDeliveryFailed") == []


def test_sha1_alone_is_accepted_when_the_connection_allows_it(receiver, webhook_emulator) -> None:
    body = envelope("MessageLoaded")
    headers = {"X-Postal-Signature": webhook_emulator.webhook_signer.sign_with(body, "sha1")}
    assert post(receiver, "sender25_hooks", body, headers) == 200


def test_the_same_uuid_ten_times_is_one_asset_event(receiver, webhook_emulator) -> None:
    body = envelope(
        "MessageBounced", payload={"original_message": {"id": 5, "to": "z@example.org"}, "bounce": {}}
    )
    headers = webhook_emulator.webhook_signer.sign(body)
    assert [post(receiver, "sender25_hooks", body, headers) for _ in range(10)] == [200] * 10
    uuid_ = json.loads(body)["uuid"]
    assert len([e for e in asset_events("sender25.sender25_hooks.MessageBounced") if e["uuid"] == uuid_]) == 1


def test_emulator_duplicate_and_lost_response_are_recorded_once(receiver, webhook_emulator) -> None:
    webhook_emulator.add_webhook(receiver.url("sender25_hooks"), events=["MessageSent"])
    webhook_emulator.inject_webhook_fault("lost_response")
    webhook_emulator.inject_webhook_fault("duplicate")
    rcpt = f"bo-{uuid.uuid4().hex[:6]}@example.org"
    webhook_emulator.trigger_webhook("MessageSent", {"message": {"id": 1, "to": rcpt}, "status": "Sent"})
    deadline = time.monotonic() + 20
    while not webhook_emulator.webhook_requests()[0].attempts:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    webhook_emulator.advance(120)  # Postal's first retry, 2 minutes later
    (request,) = wait_delivered(webhook_emulator, 1)
    assert [a.fault for a in request.attempts] == ["lost_response", "duplicate", "duplicate"]
    assert all(a.status == 200 for a in request.attempts)
    assert (
        len([e for e in asset_events("sender25.sender25_hooks.MessageSent") if e["recipient"] == rcpt]) == 1
    )


def _raw_post(port: int, conn_id: str, head: dict[str, str], chunks) -> tuple[bytes, int]:
    """Send a request piece by piece; return the answer's first line and how many body bytes went out."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        lines = [
            f"POST /mail/webhooks/sender25/{conn_id} HTTP/1.1",
            "Host: x",
            *(f"{k}: {v}" for k, v in head.items()),
        ]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        sent = 0
        sock.settimeout(0.05)
        for chunk in chunks:
            try:
                answer = sock.recv(4096)
            except TimeoutError:
                answer = b""
            if answer:
                return answer.split(b"\r\n", 1)[0], sent
            try:
                sock.sendall(chunk)
            except OSError:
                break
            sent += len(chunk)
        sock.settimeout(10)
        return sock.recv(4096).split(b"\r\n", 1)[0], sent


def test_a_10_mb_body_is_refused_before_it_is_read(receiver, webhook_emulator) -> None:
    ten_mb = 10 * 1024 * 1024
    chunk = b"x" * 65536
    line, sent = _raw_post(receiver.port, "sender25_hooks", {"Content-Length": str(ten_mb)}, [chunk] * 160)
    assert line == b"HTTP/1.1 403 Forbidden"
    assert sent < ten_mb


def test_a_chunked_stream_over_the_bound_is_cut_off(receiver, webhook_emulator) -> None:
    piece = b"x" * 65536
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    line, sent = _raw_post(receiver.port, "sender25_hooks", {"Transfer-Encoding": "chunked"}, [chunk] * 160)
    assert line == b"HTTP/1.1 403 Forbidden"
    assert sent < 2 * 1024 * 1024


def test_other_paths_and_methods(receiver) -> None:
    assert requests.get(receiver.url("sender25_hooks"), timeout=10).status_code == 405
    assert requests.post(receiver.url("a/b"), data=b"{}", timeout=10).status_code == 404


def test_a_database_that_cannot_commit_gets_503_and_the_retry_is_recorded_once(
    receiver, webhook_emulator
) -> None:
    import sqlite3

    from airflow.configuration import conf

    path = conf.get("database", "sql_alchemy_conn").split("sqlite:///", 1)[1]
    body = envelope("MessageDelayed")
    headers = webhook_emulator.webhook_signer.sign(body)
    lock = sqlite3.connect(path, timeout=0, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # another writer holds the database past SQLite's busy timeout
    try:
        assert (
            requests.post(receiver.url("sender25_hooks"), data=body, headers=headers, timeout=60).status_code
            == 503
        )
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert post(receiver, "sender25_hooks", body, headers) == 200  # Postal's retry: same body
    uuid_ = json.loads(body)["uuid"]
    assert [
        e["uuid"] for e in asset_events("sender25.sender25_hooks.MessageDelayed") if e["uuid"] == uuid_
    ] == [uuid_]
