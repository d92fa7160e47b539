"""Where the receiver gets a connection's public key: the ``webhook_public_key`` extra, or the JWKS that
Postal publishes at ``https://<host>/.well-known/jwks.json``, fetched through the Sender25 hook and cached.

The cache lives in the receiver (one per api-server process). A JWKS is re-read after
:data:`JWKS_TTL_SECONDS`, and earlier (at most every :data:`JWKS_MIN_REFRESH_SECONDS`) when a signature does
not verify with the cached keys, so a rotated Postal key is picked up without a restart and a flood of
forged requests cannot turn into a flood of JWKS requests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_mail._transport.failures import AttemptFailed
from airflow_provider_mail._transport.http import HttpRequest
from airflow_provider_mail._webhooks.signature import keys_from_jwks, load_public_key
from airflow_provider_mail.exceptions import MailProviderError
from airflow_provider_mail.hooks.sender25 import Sender25Hook

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

    from airflow_provider_mail._compat import Connection
    from airflow_provider_mail._webhooks.settings import WebhookSettings

JWKS_PATH = "/.well-known/jwks.json"
JWKS_TTL_SECONDS = 3600.0
JWKS_MIN_REFRESH_SECONDS = 60.0
#: The receiver must answer Postal within 5 s: lookups through the hook get a fraction of that.
LOOKUP_TIMEOUT_SECONDS = 2.0


class WebhookHook(Sender25Hook):
    """The Sender25 hook on a connection the receiver already read (the api-server reads connections from
    the metadata database; the Task SDK's lookup is for tasks), with short timeouts and no retries: Postal
    waits 5 s for an answer and retries by itself.

    :param conn: the ``sender25`` connection.
    """

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn.conn_id, timeout=LOOKUP_TIMEOUT_SECONDS, max_retries=0)
        self.__dict__["conn"] = conn

    def fetch_jwks(self) -> bytes:
        """GET the JWKS of the connection's host (scheme, host and port of the base URL).

        :raises MailProviderError: the JWKS could not be read (transport failure or not HTTP 200).
        """
        parts = urlsplit(self.settings.base_url)
        url = f"{parts.scheme}://{parts.netloc}{JWKS_PATH}"
        request = HttpRequest("GET", url, {"Accept": "application/json"})
        try:
            response = self._driver.send(request)
        except AttemptFailed as failed:
            raise failed.error from None
        if response.status != 200:
            raise self.transport_error(f"GET {url} answered HTTP {response.status}")
        return response.body


@dataclass
class _Cached:
    source: str
    keys: list[RSAPublicKey]
    fetched_at: float


class KeySource:
    """The public keys of each connection, cached.

    :param clock: monotonic seconds (a test moves it past the refresh interval).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    def keys(self, settings: WebhookSettings, conn: Connection, *, stale: bool = False) -> list[RSAPublicKey]:
        """The keys to verify ``conn``'s webhooks with.

        :param settings: the connection's webhook settings.
        :param conn: the connection (for the JWKS fetch).
        :param stale: the cached keys just failed to verify a signature: re-read a JWKS if allowed.
        :raises MailProviderError: no key could be had (bad extra, JWKS unreachable or empty).
        """
        source = f"extra:{settings.public_key}" if settings.public_key else "jwks"
        now = self._clock()
        with self._lock:
            cached = self._cache.get(settings.conn_id)
        if cached is not None and cached.source == source:
            age = now - cached.fetched_at
            if source != "jwks" or (
                age < JWKS_TTL_SECONDS and not (stale and age >= JWKS_MIN_REFRESH_SECONDS)
            ):
                return cached.keys
        if settings.public_key:
            keys = [load_public_key(settings.public_key, conn_id=settings.conn_id)]
        else:
            with WebhookHook(conn) as hook:
                document = hook.fetch_jwks()
            keys = keys_from_jwks(document, source=f"the JWKS of {conn.conn_id!r}")
        with self._lock:
            self._cache[settings.conn_id] = _Cached(source, keys, now)
        return keys

    def can_refresh(self, settings: WebhookSettings) -> bool:
        """Whether a failed verification may re-read the JWKS now.

        :param settings: the connection's webhook settings.
        """
        if settings.public_key:
            return False
        with self._lock:
            cached = self._cache.get(settings.conn_id)
        return cached is None or self._clock() - cached.fetched_at >= JWKS_MIN_REFRESH_SECONDS


def lookup_trace(conn: Connection, message_id: Any) -> dict[str, Any] | None:
    """The ``X-Airflow-Trace`` of a sent message, read through the hook (``headers`` expansion).

    :param conn: the ``sender25`` connection.
    :param message_id: the message's id as the webhook gave it.
    :returns: the trace, or ``None`` when the message has none or cannot be read now.
    """
    from airflow_provider_mail._webhooks.trace import trace_from_headers

    if isinstance(message_id, bool) or not isinstance(message_id, int):
        return None
    try:
        with WebhookHook(conn) as hook:
            message = hook.get_message(message_id, expansions=["headers"])
    except MailProviderError:
        return None
    return trace_from_headers(message.get("headers") or {})
