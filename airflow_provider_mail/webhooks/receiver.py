"""The webhook receiver: a small ASGI app the api-server mounts at ``/mail`` (through the provider's plugin).

``POST /mail/webhooks/sender25/{conn_id}`` is the URL pasted into Sender25's webhook form. Plugin routes
are not behind Airflow's authentication, so **the signature is the only gate**. In order:

1. the connection is read (a missing one, one that is not ``sender25``, or one without a usable key is
   refused exactly like a bad signature, after the same work, so the answer tells nothing about ids);
2. the body is read up to the connection's bound; a ``Content-Length`` over it, or a stream that goes
   over it, is refused without reading further;
3. the signature is checked over the exact bytes, then the envelope and its time window
   (:mod:`airflow_provider_mail._webhooks`);
4. the event and its ``uuid`` are committed in one transaction (:mod:`._record`); a seen ``uuid`` is
   answered 200 and recorded nothing.

Every refusal is ``403`` with an empty body, logged once with its reason; ``200`` only after the commit;
anything else (database down) is ``503``, so Postal retries (2, 3, 6, 10, 15 minutes). A raw ASGI app, not
FastAPI: it reads the body chunk by chunk and needs nothing the api-server does not already have.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from airflow_provider_mail._webhooks.envelope import (
    DEFAULT_MAX_BODY_BYTES,
    MESSAGE_EVENTS,
    event_extra,
    parse_envelope,
)
from airflow_provider_mail._webhooks.refusal import WebhookRefused
from airflow_provider_mail._webhooks.signature import verify_signature
from airflow_provider_mail.exceptions import MailProviderError

if TYPE_CHECKING:
    from ._keys import KeySource

log = logging.getLogger(__name__)

_ROUTE = re.compile(r"^/webhooks/sender25/([^/]{1,600})/?$")
_CONN_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,200}$")

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class _TooLarge(Exception):
    pass


class Sender25WebhookReceiver:
    """The ASGI application (one per api-server process; it caches keys per connection)."""

    def __init__(self) -> None:
        # The hook and the ORM are imported on the first request: every Airflow process loads the
        # plugin, only the api-server calls this app.
        self._keys: KeySource | None = None

    def _key_source(self) -> KeySource:
        if self._keys is None:
            from ._keys import KeySource

            self._keys = KeySource()
        return self._keys

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        match = _ROUTE.match(path)
        if match is None:
            await _answer(send, 404)
            return
        if scope.get("method") != "POST":
            await _answer(send, 405, [(b"allow", b"POST")])
            return
        conn_id = unquote(match.group(1))
        status = await self._handle(conn_id, _headers(scope), receive)
        await _answer(send, status)

    async def _handle(self, conn_id: str, headers: dict[str, str], receive: Receive) -> int:
        try:
            await self._verify_and_record(conn_id, headers, receive)
        except WebhookRefused as refused:
            log.warning("Sender25 webhook for connection %r refused: %s", conn_id[:200], refused)
            return 403
        except _Duplicate:
            log.info("Sender25 webhook for connection %r: uuid already recorded, nothing done", conn_id[:200])
            return 200
        except Exception:
            log.exception(
                "Sender25 webhook for connection %r could not be recorded; answered 503", conn_id[:200]
            )
            return 503
        return 200

    async def _verify_and_record(self, conn_id: str, headers: dict[str, str], receive: Receive) -> None:
        from airflow_provider_mail._webhooks.settings import resolve_webhook_settings

        from ._keys import lookup_trace
        from ._record import record_webhook_event, webhook_seen

        key_source = self._key_source()
        conn, settings, unknown = None, None, ""
        try:
            conn = (
                await asyncio.to_thread(_connection_from_airflow, conn_id)
                if _CONN_ID.match(conn_id)
                else None
            )
            settings = resolve_webhook_settings(conn) if conn is not None else None
        except WebhookRefused as refused:
            unknown = refused.detail
        except MailProviderError as err:
            unknown = f"the connection's webhook settings are wrong: {err}"
        bound = settings.max_body_bytes if settings is not None else DEFAULT_MAX_BODY_BYTES
        try:
            body = await _read_body(headers, receive, bound)
        except _TooLarge:
            raise WebhookRefused("too-large", f"body over {bound} bytes") from None
        if settings is None or conn is None:
            raise WebhookRefused("unknown-connection", unknown or "no such connection")
        try:
            keys = await asyncio.to_thread(key_source.keys, settings, conn)
        except MailProviderError as err:
            raise WebhookRefused("unknown-connection", f"no key to verify with: {err}") from None
        try:
            verify_signature(body, headers, keys, allow_sha1=settings.allow_sha1)
        except WebhookRefused as refused:
            if refused.reason != "bad-signature" or not key_source.can_refresh(settings):
                raise
            keys = await asyncio.to_thread(key_source.keys, settings, conn, stale=True)
            verify_signature(body, headers, keys, allow_sha1=settings.allow_sha1)
        envelope = parse_envelope(body, now=time.time(), max_age=settings.max_age)
        from airflow_provider_mail.webhooks import sender25_event_asset

        asset = sender25_event_asset(envelope.event, conn_id)
        # A retry or a replay of a recorded webhook costs one read, not a lookup at Sender25 (the commit
        # below decides for good when two copies race).
        if await asyncio.to_thread(webhook_seen, name=asset.name, uri=asset.uri, uuid=envelope.uuid):
            raise _Duplicate
        extra = event_extra(envelope, conn_id=conn_id)
        extra["trace"] = None
        if envelope.event in MESSAGE_EVENTS:
            extra["trace"] = await asyncio.to_thread(lookup_trace, conn, extra["message_id"])
        recorded = await asyncio.to_thread(
            record_webhook_event,
            name=asset.name,
            uri=asset.uri,
            extra=extra,
            uuid=envelope.uuid,
            timestamp=envelope.timestamp,
            keep_seconds=2 * settings.max_age,
        )
        if not recorded:
            raise _Duplicate
        log.info(
            "Sender25 webhook %s (uuid %s) recorded for connection %r", envelope.event, envelope.uuid, conn_id
        )


class _Duplicate(Exception):
    pass


def _connection_from_airflow(conn_id: str) -> Any:
    """The connection from Airflow's secrets backends and metadata database, or ``None``."""
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection

    try:
        return Connection.get_connection_from_secrets(conn_id)
    except AirflowNotFoundException:
        return None


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    return {
        name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", [])
    }


async def _read_body(headers: dict[str, str], receive: Receive, bound: int) -> bytes:
    """The request body, refused as soon as it is known to be over ``bound`` (never read whole)."""
    declared = headers.get("content-length")
    if declared is not None and (not declared.strip().isdigit() or int(declared) > bound):
        raise _TooLarge
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise WebhookRefused("malformed", "the client went away before the body was complete")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > bound:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-length", b"0"), (b"cache-control", b"no-store"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": b""})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
