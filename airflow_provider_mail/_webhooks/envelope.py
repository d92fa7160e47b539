"""Postal's webhook envelope, checked after the signature: shape, time window, and the asset-event extra.

Postal serialises ``{"event", "timestamp", "payload", "uuid"}`` once per attempt
(``app/services/webhook_delivery_service.rb``); ``timestamp`` is when the request was queued and, like
``uuid``, the same on every retry. Postal's last retry comes about 36 minutes after the first attempt
(2 + 3 + 6 + 10 + 15 minutes), so the accepted window must be longer than that:
:data:`DEFAULT_MAX_AGE_SECONDS` is two hours. The ``uuid`` of every accepted event is kept at least that
long, so a replay of an old, validly signed body is refused as ``stale`` or answered as a duplicate.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from airflow_provider_mail._webhooks.refusal import WebhookRefused

#: Events Postal sends (``app/models/webhook_event.rb``); one asset per event name and connection.
SENDER25_EVENTS = (
    "MessageSent",
    "MessageDelayed",
    "MessageDeliveryFailed",
    "MessageHeld",
    "MessageBounced",
    "MessageLinkClicked",
    "MessageLoaded",
    "DomainDNSError",
    "SendLimitApproaching",
    "SendLimitExceeded",
)
#: The events about one message (the others are about a domain or the server).
MESSAGE_EVENTS = frozenset(name for name in SENDER25_EVENTS if name.startswith("Message"))
#: Longer than Postal's retry span (~36 min) with room for a queue backlog on Postal's side.
DEFAULT_MAX_AGE_SECONDS = 2 * 3600.0
#: Clock skew tolerated for a timestamp in the future.
DEFAULT_MAX_FUTURE_SECONDS = 300.0
#: Postal's bodies are a few KB (details cut at 250 characters, output at 512).
DEFAULT_MAX_BODY_BYTES = 256 * 1024
#: Postal's uuids are RFC 4122 text; anything else is not from Postal.
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class WebhookEnvelope:
    """A verified Postal webhook.

    :param event: the event name (one of :data:`SENDER25_EVENTS`).
    :param timestamp: when Postal queued the request (epoch seconds).
    :param payload: the event's payload, as sent.
    :param uuid: Postal's id of the request, the same on every retry: the deduplication key.
    """

    event: str
    timestamp: float
    payload: dict[str, Any]
    uuid: str


def parse_envelope(
    body: bytes,
    *,
    now: float,
    max_age: float = DEFAULT_MAX_AGE_SECONDS,
    max_future: float = DEFAULT_MAX_FUTURE_SECONDS,
) -> WebhookEnvelope:
    """Read a (signature-checked) body as Postal's envelope and check its time window.

    :param body: the exact bytes received.
    :param now: the receiver's clock (epoch seconds).
    :param max_age: the oldest ``timestamp`` accepted, in seconds before ``now``.
    :param max_future: how far ``timestamp`` may lie ahead of ``now`` (clock skew).
    :raises WebhookRefused: ``malformed``, ``stale`` or ``future``.
    """
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookRefused("malformed", "the body is not JSON") from None
    if not isinstance(document, dict):
        raise WebhookRefused("malformed", "the body is not a JSON object")
    event, timestamp = document.get("event"), document.get("timestamp")
    payload, uuid = document.get("payload"), document.get("uuid")
    if event not in SENDER25_EVENTS:
        raise WebhookRefused("malformed", "unknown or missing event name")
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)) or not math.isfinite(timestamp):
        raise WebhookRefused("malformed", "timestamp is not a number")
    if not isinstance(payload, dict):
        raise WebhookRefused("malformed", "payload is not an object")
    if not isinstance(uuid, str) or not _UUID.match(uuid):
        raise WebhookRefused("malformed", "uuid is missing or not a uuid")
    if timestamp < now - max_age:
        raise WebhookRefused("stale", f"timestamp is {now - timestamp:.0f} s old (window {max_age:.0f} s)")
    if timestamp > now + max_future:
        raise WebhookRefused("future", f"timestamp is {timestamp - now:.0f} s ahead")
    return WebhookEnvelope(event=event, timestamp=float(timestamp), payload=payload, uuid=uuid.lower())


def event_extra(envelope: WebhookEnvelope, *, conn_id: str) -> dict[str, Any]:
    """The asset event's ``extra``: the fields a DAG needs first, flat, then the whole payload.

    ``message_id``/``token``/``recipient``/``tag`` are those of the message the event is about (for
    ``MessageBounced`` the *original* message, Postal's ``original_message``); ``status``, ``details``
    and ``output`` are the delivery's. Missing fields are ``None``. Nothing here comes from the
    connection but its id.

    :param envelope: the verified envelope.
    :param conn_id: the connection the webhook was received for.
    """
    payload = envelope.payload
    message = payload.get("original_message") if envelope.event == "MessageBounced" else None
    if not isinstance(message, dict):
        message = payload.get("message")
    message = message if isinstance(message, dict) else {}
    return {
        "source": "sender25-webhook",
        "conn_id": conn_id,
        "event": envelope.event,
        "uuid": envelope.uuid,
        "timestamp": envelope.timestamp,
        "message_id": message.get("id"),
        "token": message.get("token"),
        "rfc_message_id": message.get("message_id"),
        "recipient": message.get("to"),
        "sender": message.get("from"),
        "subject": message.get("subject"),
        "tag": message.get("tag"),
        "status": payload.get("status"),
        "details": payload.get("details"),
        "output": payload.get("output"),
        "payload": payload,
    }
