"""The emulator's Postal webhooks, checked against Postal's behaviour with a tiny receiver in the test and
signatures verified here with ``cryptography`` directly (not with the provider's verifier)."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from airflow_provider_mail.testing import Sender25Emulator
from airflow_provider_mail.testing.__main__ import build_parser


class Receiver:
    """A webhook URL that records each request and answers the next scripted status (default 200)."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                owner.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = owner.statuses.pop(0) if owner.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout: float = 20) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            assert time.monotonic() < deadline, self.received
            time.sleep(0.02)
        return self.received


@pytest.fixture
def receiver():
    served = Receiver()
    yield served
    served.server.shutdown()


def wait_attempts(request: Any, count: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while len(request.attempts) < count:
        assert time.monotonic() < deadline, request
        time.sleep(0.02)


def verify(emulator: Sender25Emulator, headers: dict[str, str], body: bytes) -> None:
    public = serialization.load_pem_public_key(emulator.webhook_signer.public_pem.encode())
    public.verify(
        base64.b64decode(headers["x-postal-signature-256"]), body, padding.PKCS1v15(), hashes.SHA256()
    )
    public.verify(base64.b64decode(headers["x-postal-signature"]), body, padding.PKCS1v15(), hashes.SHA1())


def send(emulator: Sender25Emulator, rcpt: str) -> int:
    answer = requests.post(
        f"{emulator.base_url}/api/v1/send/message",
        headers={"X-Server-API-Key": emulator.api_key},
        json={"to": [rcpt], "from": "a@example.com", "subject": "S", "plain_body": "b", "tag": "t"},
        timeout=10,
    ).json()
    return answer["data"]["messages"][rcpt]["id"]


def test_a_hardfail_is_posted_signed_with_postals_envelope_and_payload(make_emulator, receiver) -> None:
    emulator = make_emulator(webhook_urls=[receiver.url])
    message_id = send(emulator, "ana+hardfail@example.org")
    emulator.advance(1)
    ((headers, body),) = receiver.wait(1)
    verify(emulator, headers, body)
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("Postal/")
    assert headers["x-postal-signature-kid"] == emulator.webhook_signer.kid
    envelope = json.loads(body)
    assert list(envelope) == ["event", "timestamp", "payload", "uuid"]
    assert envelope["event"] == "MessageDeliveryFailed"
    payload = envelope["payload"]
    assert set(payload) == {"message", "status", "details", "output", "sent_with_ssl", "timestamp", "time"}
    assert payload["status"] == "HardFail" and payload["output"].startswith("550")
    assert set(payload["message"]) == {
        "id",
        "token",
        "direction",
        "message_id",
        "to",
        "from",
        "subject",
        "timestamp",
        "spam_status",
        "tag",
    }
    assert payload["message"]["id"] == message_id


def test_a_bounce_names_the_original_message(make_emulator, receiver) -> None:
    emulator = make_emulator(webhook_urls=[receiver.url])
    message_id = send(emulator, "bo+bounce@example.org")
    emulator.advance(5)
    events = [json.loads(body) for _, body in receiver.wait(2)]
    assert [e["event"] for e in events] == ["MessageSent", "MessageBounced"]
    assert events[1]["payload"]["original_message"]["id"] == message_id
    assert "bounce" in events[1]["payload"]


def test_the_jwks_serves_the_signing_key(make_emulator) -> None:
    emulator = make_emulator()
    (jwk,) = requests.get(f"{emulator.base_url}/.well-known/jwks.json", timeout=10).json()["keys"]
    numbers = serialization.load_pem_public_key(emulator.webhook_signer.public_pem.encode()).public_numbers()
    n = int.from_bytes(base64.urlsafe_b64decode(jwk["n"] + "=" * (-len(jwk["n"]) % 4)), "big")
    assert (jwk["kty"], jwk["use"], jwk["alg"], n) == ("RSA", "sig", "RS256", numbers.n)


def test_failed_attempts_follow_postals_schedule_with_the_same_body_then_drop(
    make_emulator, receiver
) -> None:
    emulator = make_emulator(webhook_urls=[receiver.url])
    receiver.statuses = [500] * 6
    (request,) = emulator.trigger_webhook("DomainDNSError", {"domain": "acme.example"})
    for attempt, minutes in enumerate([2, 3, 6, 10, 15], start=2):
        wait_attempts(request, attempt - 1)  # the failure is recorded: its retry time is set
        emulator.advance(minutes * 60 - 1)
        time.sleep(0.3)
        assert len(receiver.received) == attempt - 1, "retried too early"
        emulator.advance(1)
        receiver.wait(attempt)
    deadline = time.monotonic() + 10
    while request.done is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert request.done == "dropped"
    assert len({body for _, body in receiver.received}) == 1  # same uuid and timestamp every time


def test_duplicate_fault_sends_a_delivered_webhook_twice(make_emulator, receiver) -> None:
    emulator = make_emulator(webhook_urls=[receiver.url])
    emulator.inject_webhook_fault("duplicate")
    emulator.trigger_webhook("MessageLoaded", {"message": {"id": 1}})
    first, second = receiver.wait(2)
    assert first[1] == second[1]


def test_event_selection_and_admin_interface(make_emulator, receiver) -> None:
    emulator = make_emulator()
    admin = f"{emulator.base_url}/_emulator/webhooks"
    requests.post(admin, json={"url": receiver.url, "events": ["MessageHeld"]}, timeout=10).raise_for_status()
    send(emulator, "c@example.org")  # Sent: not wanted
    send(emulator, "d+held@example.org")
    emulator.advance(1)
    ((_, body),) = receiver.wait(1)
    assert json.loads(body)["event"] == "MessageHeld"
    wait_attempts(emulator.webhook_requests()[0], 1)  # the receiver's answer is recorded
    described = requests.get(admin, timeout=10).json()
    assert described["public_pem"] == emulator.webhook_signer.public_pem
    assert described["requests"][0]["attempts"][0]["status"] == 200
    requests.post(f"{admin}/faults", json={"fault": "duplicate"}, timeout=10).raise_for_status()
    requests.post(
        f"{admin}/trigger", json={"event": "MessageHeld", "payload": {}}, timeout=10
    ).raise_for_status()
    receiver.wait(3)


def test_cli_configures_webhooks_and_writes_the_public_key() -> None:
    args = build_parser().parse_args(
        ["sender25", "--webhook", "http://x/1", "--webhook-key-file", "/tmp/k.pem"]
    )
    assert args.webhooks == ["http://x/1"]
    assert str(args.webhook_key_file) == "/tmp/k.pem"
