"""Postal's webhooks, emulated: what Sender25 POSTs to a customer's webhook URL, signed as Postal signs it.

Written from Postal's source (3.3.6), not from this package's receiver:

* ``lib/postal/signer.rb`` — the installation's RSA key signs the exact body: ``X-Postal-Signature``
  (SHA-1), ``X-Postal-Signature-256`` (SHA-256), both ``Base64.strict_encode64``; ``X-Postal-Signature-KID``
  is the JWK's key id; the public half is served as a JWKS at ``/.well-known/jwks.json``
  (``app/controllers/well_known_controller.rb``) and is the ``p=`` of the DKIM-style TXT record;
* ``app/services/webhook_delivery_service.rb`` — the envelope ``{event, timestamp, payload, uuid}`` is
  serialised on every attempt, ``timestamp`` being when the request was queued; 5 s timeout; any 2xx
  is success; otherwise retried 2, 3, 6, 10 and 15 minutes later, then dropped;
* ``lib/postal/message_db/{message,delivery}.rb`` — the payloads (``webhook_hash``).

Retries run on the emulator's clock: ``emu.advance(120)`` makes the second attempt due. A dispatcher
thread delivers what is due (and brings message lifecycles forward, so deliveries happen without an
API call). Receiver-side faults: ``duplicate`` (a successful delivery is sent once more, same body) and
``lost_response`` (the request is sent but its answer ignored, as after Postal's 5 s timeout, so it is
retried with the same uuid).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import urllib.error
import urllib.request
import uuid as uuid_module
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_provider_mail.testing._clock import EmulatorClock

#: ``WebhookRequest::RETRIES`` (minutes after the failed attempt ``n``), in seconds.
RETRY_DELAYS = {1: 120.0, 2: 180.0, 3: 360.0, 4: 600.0, 5: 900.0}
POSTAL_TIMEOUT_SECONDS = 5.0
WEBHOOK_FAULTS = ("duplicate", "lost_response")
#: Delivery status -> webhook event (``lib/postal/message_db/message.rb#create_delivery``).
STATUS_EVENTS = {
    "Sent": "MessageSent",
    "SoftFail": "MessageDelayed",
    "HardFail": "MessageDeliveryFailed",
    "Held": "MessageHeld",
    "Bounced": "MessageBounced",
}
ALL_EVENTS = (
    "MessageSent",
    "MessageDelayed",
    "MessageDeliveryFailed",
    "MessageHeld",
    "MessageBounced",
    "MessageLinkClicked",
    "MessageLoaded",
    "DomainDNSError",
)
#: Only "all events" webhooks get these (``WebhookRequest.trigger``'s query sees no row for them).
ALL_EVENTS_ONLY = ("SendLimitApproaching", "SendLimitExceeded")


class WebhookSigner:
    """The installation's signing key (a fresh 2048-bit RSA key per emulator)."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        # The emulator's own key pair, made here: it never sees the receiver's configuration.
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def sign(self, body: bytes) -> dict[str, str]:
        """The three headers Postal adds to a signed request (``lib/postal/http.rb``)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        def sign64(digest: Any) -> str:
            return base64.b64encode(self._key.sign(body, padding.PKCS1v15(), digest)).decode()

        return {
            "X-Postal-Signature-KID": self.kid,
            "X-Postal-Signature": sign64(hashes.SHA1()),  # noqa: S303 - Postal's legacy header
            "X-Postal-Signature-256": sign64(hashes.SHA256()),
        }

    def sign_with(self, body: bytes, algorithm: str) -> str:
        """One signature (``sha1`` or ``sha256``), for tests that forge or strip headers."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        digest = hashes.SHA1() if algorithm == "sha1" else hashes.SHA256()  # noqa: S303 - legacy header
        return base64.b64encode(self._key.sign(body, padding.PKCS1v15(), digest)).decode()

    @property
    def public_pem(self) -> str:
        """The public key as a PEM (``SubjectPublicKeyInfo``)."""
        from cryptography.hazmat.primitives import serialization

        return (
            self._key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    @property
    def dkim_value(self) -> str:
        """The ``p=`` value of ``postal._domainkey.rp.<host>`` (base64 DER ``SubjectPublicKeyInfo``)."""
        from cryptography.hazmat.primitives import serialization

        der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    def jwk(self) -> dict[str, str]:
        """The JWK (``JWT::JWK.new(key, use: "sig", alg: "RS256")``)."""
        numbers = self._key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "n": _b64url(numbers.n),
            "e": _b64url(numbers.e),
            "kid": self.kid,
            "use": "sig",
            "alg": "RS256",
        }

    @property
    def kid(self) -> str:
        """The key id: the RFC 7638 thumbprint of the public JWK."""
        numbers = self._key.public_key().public_numbers()
        canonical = json.dumps(
            {"e": _b64url(numbers.e), "kty": "RSA", "n": _b64url(numbers.n)},
            separators=(",", ":"),
            sort_keys=True,
        )
        return _b64url_bytes(hashlib.sha256(canonical.encode()).digest())

    def jwks(self) -> dict[str, Any]:
        """The document served at ``/.well-known/jwks.json``."""
        return {"keys": [self.jwk()]}


@dataclass
class WebhookEndpoint:
    """A webhook configured in the panel: its URL and the events it gets (``None`` = all events)."""

    url: str
    events: tuple[str, ...] | None = None
    enabled: bool = True

    def wants(self, event: str) -> bool:
        if not self.enabled:
            return False
        if self.events is None:
            return True
        return event in self.events and event not in ALL_EVENTS_ONLY


@dataclass
class Attempt:
    """One delivery attempt of a webhook request."""

    at: float
    status: int | None
    error: str | None = None
    fault: str | None = None


@dataclass
class WebhookRequestRecord:
    """A queued webhook request (``webhook_requests`` row) and its attempts."""

    id: int
    url: str
    event: str
    payload: dict[str, Any]
    uuid: str
    timestamp: float
    next_attempt_at: float | None
    attempts: list[Attempt] = field(default_factory=list)
    done: str | None = None  # "delivered" or "dropped"

    def body(self) -> bytes:
        """The envelope, serialised as Postal does on every attempt (``to_json``)."""
        envelope = {
            "event": self.event,
            "timestamp": self.timestamp,
            "payload": self.payload,
            "uuid": self.uuid,
        }
        return json.dumps(envelope, separators=(",", ":")).encode()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class WebhookDispatcher:
    """Queues and delivers webhook requests on the emulator clock, in a background thread.

    :param clock: the emulator clock.
    :param signer: the signing key.
    :param tick: called each round before delivering (brings message lifecycles forward).
    :param timeout: seconds to wait for a receiver's answer (Postal: 5).
    """

    def __init__(
        self,
        clock: EmulatorClock,
        tick: Callable[[], None] = lambda: None,
        timeout: float = POSTAL_TIMEOUT_SECONDS,
    ) -> None:
        self.clock = clock
        self.timeout = timeout
        self._signer: WebhookSigner | None = None
        #: Set by the emulator while it serves: adding an endpoint then starts the delivery thread.
        self.autostart = False
        self.endpoints: list[WebhookEndpoint] = []
        self._tick = tick
        self._requests: list[WebhookRequestRecord] = []
        self._faults: list[str] = []
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_id = 1

    @property
    def signer(self) -> WebhookSigner:
        """The signing key, made on first use (an RSA key costs ~0.1 s; most emulators never sign)."""
        with self._lock:
            if self._signer is None:
                self._signer = WebhookSigner()
            return self._signer

    # -- configuration -----------------------------------------------------------------------
    def add_endpoint(self, url: str, events: Iterable[str] | None = None) -> WebhookEndpoint:
        """Configure a webhook URL (``events=None``: all events).

        :param url: where to POST (``http`` or ``https``).
        :param events: the events it gets.
        """
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"a webhook URL must be http(s), got {url!r}")
        if events is not None:
            unknown = set(events) - set(ALL_EVENTS) - set(ALL_EVENTS_ONLY)
            if unknown:
                raise ValueError(f"unknown webhook events: {sorted(unknown)}")
        endpoint = WebhookEndpoint(url, tuple(events) if events is not None else None)
        with self._lock:
            self.endpoints.append(endpoint)
        if self.autostart:
            self.start()
        return endpoint

    def inject(self, fault: str, count: int = 1) -> None:
        if fault not in WEBHOOK_FAULTS:
            raise ValueError(f"webhook fault must be one of {WEBHOOK_FAULTS}, got {fault!r}")
        with self._lock:
            self._faults.extend([fault] * count)

    # -- events ------------------------------------------------------------------------------
    def trigger(self, event: str, payload: dict[str, Any]) -> list[WebhookRequestRecord]:
        """Queue one request per endpoint that wants ``event`` (``WebhookRequest.trigger``)."""
        created = []
        now = self.clock.now()
        with self._lock:
            for endpoint in self.endpoints:
                if endpoint.wants(event):
                    record = WebhookRequestRecord(
                        self._next_id, endpoint.url, event, payload, str(uuid_module.uuid4()), now, now
                    )
                    self._next_id += 1
                    self._requests.append(record)
                    created.append(record)
        return created

    def requests(self) -> list[WebhookRequestRecord]:
        with self._lock:
            return list(self._requests)

    def pending(self) -> list[WebhookRequestRecord]:
        with self._lock:
            return [r for r in self._requests if r.done is None]

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._faults.clear()

    # -- the worker --------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sender25-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self._tick()
                self.deliver_due()
            except Exception:  # keep delivering whatever one round hit
                time.sleep(0.2)

    def deliver_due(self) -> None:
        """Attempt every request whose time has come (oldest first)."""
        now = self.clock.now()
        with self._lock:
            due = [
                r
                for r in self._requests
                if r.done is None and r.next_attempt_at is not None and r.next_attempt_at <= now
            ]
        for record in due:
            self._attempt(record)

    def _attempt(self, record: WebhookRequestRecord) -> None:
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
        status, error = self._post(record)
        success = status is not None and 200 <= status < 300 and fault != "lost_response"
        attempts = [Attempt(self.clock.now(), status, error, fault)]
        if success and fault == "duplicate":
            again_status, again_error = self._post(record)
            attempts.append(Attempt(self.clock.now(), again_status, again_error, "duplicate"))
        with self._lock:
            record.attempts.extend(attempts)
            failed = len(record.attempts) - (len(attempts) - 1)  # a duplicate is not a retry
            if success:
                record.done, record.next_attempt_at = "delivered", None
            elif failed in RETRY_DELAYS:
                record.next_attempt_at = self.clock.now() + RETRY_DELAYS[failed]
            else:
                record.done, record.next_attempt_at = "dropped", None

    def _post(self, record: WebhookRequestRecord) -> tuple[int | None, str | None]:
        body = record.body()
        headers = {"Content-Type": "application/json", "User-Agent": "Postal/3.3.6", **self.signer.sign(body)}
        request = urllib.request.Request(record.url, data=body, headers=headers, method="POST")  # noqa: S310
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=self.timeout) as response:
                return response.status, None
        except urllib.error.HTTPError as err:
            return err.code, None
        except Exception as err:  # connection refused, timeout: Postal records code -1
            return None, f"{type(err).__name__}: {err}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Postal does not follow redirects: a 3xx is a failed attempt."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def message_hash(record: Any, server_name: str = "main") -> dict[str, Any]:
    """``Message#webhook_hash`` of a stored message."""
    return {
        "id": record.id,
        "token": record.token,
        "direction": record.scope,
        "message_id": record.message_id,
        "to": record.rcpt_to,
        "from": record.mail_from,
        "subject": record.subject,
        "timestamp": record.timestamp,
        "spam_status": "NotChecked",
        "tag": record.tag,
    }


def delivery_payload(record: Any, row: Any) -> tuple[str, dict[str, Any]] | None:
    """The event and payload Postal sends when ``row`` is recorded for ``record``, or ``None``."""
    event = STATUS_EVENTS.get(row.status)
    if event is None:
        return None
    if event == "MessageBounced":
        bounce = {
            **message_hash(record),
            "id": record.id + 100000,
            "direction": "incoming",
            "to": f"bounces@{record.mail_from.rsplit('@', 1)[-1]}",
            "from": "MAILER-DAEMON@" + record.rcpt_to.rsplit("@", 1)[-1],
            "subject": "Mail delivery failed: returning message to sender",
            "tag": None,
        }
        return event, {"original_message": message_hash(record), "bounce": bounce}
    return event, {
        "message": message_hash(record),
        "status": row.status,
        "details": (row.details or "")[:250],
        "output": (row.output or "")[:512],
        "sent_with_ssl": row.sent_with_ssl,
        "timestamp": row.timestamp,
        "time": row.time,
    }


def _b64url(value: int) -> str:
    return _b64url_bytes(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def _b64url_bytes(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
