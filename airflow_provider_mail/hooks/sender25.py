"""Sender25Hook: the HTTP client of the Sender25 (Postal legacy) API, and nothing else.

Transport rules (see ``docs/connections/sender25.rst``): JSON bodies, one pooled keep-alive session,
timeouts always, redirects never followed, success decided from the envelope's ``status``.
Reads are retried on connection errors, timeouts, 429 and 5xx. A send is retried only when it
provably never reached the application; anything else raises :class:`AmbiguousSendError`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import requests
from urllib3.exceptions import NewConnectionError

from airflow_provider_mail import __version__
from airflow_provider_mail._compat import BaseHook, mask_secret
from airflow_provider_mail.exceptions import (
    AmbiguousSendError,
    MailProviderError,
    Sender25ApiError,
    Sender25AuthError,
    Sender25MessageNotFound,
    Sender25TransportError,
    Sender25UnexpectedResponse,
)
from airflow_provider_mail.utils.connection import Sender25ConnectionSettings, resolve_sender25_settings
from airflow_provider_mail.utils.retry import RetryPolicy, parse_retry_after
from airflow_provider_mail.utils.sender25_payload import (
    AttachmentLike,
    build_message_query,
    build_send_message_payload,
    build_send_raw_payload,
)
from airflow_provider_mail.utils.sender25_response import (
    interpret_response,
    is_ambiguous_send_failure,
    is_retryable_failure,
)

if TYPE_CHECKING:
    from email.message import Message

    from airflow_provider_mail._compat import Connection

log = logging.getLogger(__name__)

SEND_MESSAGE_PATH = "/api/v1/send/message"
SEND_RAW_PATH = "/api/v1/send/raw"
MESSAGE_PATH = "/api/v1/messages/message"
DELIVERIES_PATH = "/api/v1/messages/deliveries"


@dataclass
class _Attempt:
    """What one failed attempt left behind, for the retry decision."""

    error: MailProviderError
    retryable: bool
    retry_after: float | None = None
    reached_app: bool = field(default=True)


class Sender25Hook(BaseHook):
    """Talk to the Sender25 API with an Airflow connection of type ``sender25``.

    The API key is the connection's password. ``host`` is a host name or a full base URL (default
    ``https://br-app.sender25.com``). Extras: ``timeout``, ``connect_timeout``, ``max_retries``,
    ``retry_backoff``, ``from_email``, ``verify``, ``allow_insecure_http``.

    .. code-block:: python

        with Sender25Hook() as hook:
            sent = hook.send_message(to=["ana@example.org"], from_email="noreply@acme.example",
                                     subject="Hi", plain_body="Hello")

    :param sender25_conn_id: the connection id (default ``sender25_default``).
    :param timeout: read timeout in seconds; overrides the ``timeout`` extra.
    :param max_retries: retries of reads (and of sends that never reached the API); overrides the extra.
    :param retry_backoff: first backoff step in seconds; overrides the ``retry_backoff`` extra.
    """

    conn_name_attr = "sender25_conn_id"
    default_conn_name = "sender25_default"
    conn_type = "sender25"
    hook_name = "Sender25"

    def __init__(
        self,
        sender25_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        retry_backoff: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sender25_conn_id = sender25_conn_id
        self._timeout = timeout
        self._max_retries = max_retries
        self._retry_backoff = retry_backoff
        self._sleep: Callable[[float], None] = time.sleep

    # -- connection -------------------------------------------------------------------------------
    @cached_property
    def conn(self) -> Connection:
        """The Airflow connection (fetched once, on first use)."""
        return self.get_connection(self.sender25_conn_id)

    @cached_property
    def settings(self) -> Sender25ConnectionSettings:
        """The validated connection settings (base URL, key, timeouts, retries)."""
        settings = resolve_sender25_settings(
            self.conn, timeout=self._timeout, max_retries=self._max_retries, retry_backoff=self._retry_backoff
        )
        mask_secret(settings.api_key)
        return settings

    @cached_property
    def session(self) -> requests.Session:
        """One pooled keep-alive session for every call of this hook."""
        session = requests.Session()
        session.headers.update(
            {
                "X-Server-API-Key": self.settings.api_key,
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": f"airflow-provider-mail/{__version__}",
            }
        )
        session.verify = self.settings.verify
        return session

    def get_conn(self) -> requests.Session:
        """Return the configured :class:`requests.Session` (Airflow's hook convention)."""
        return self.session

    @property
    def from_email(self) -> str | None:
        """The connection's default sender (extra ``from_email``), if set."""
        return self.settings.from_email

    def close(self) -> None:
        """Close the pooled connections."""
        if "session" in self.__dict__:
            self.session.close()
            del self.__dict__["session"]

    def __enter__(self) -> Sender25Hook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- public API -------------------------------------------------------------------------------
    def send_message(
        self,
        *,
        to: str | Iterable[str] | None,
        from_email: str | None,
        subject: str | None = None,
        plain_body: str | None = None,
        html_body: str | None = None,
        cc: str | Iterable[str] | None = None,
        bcc: str | Iterable[str] | None = None,
        sender: str | None = None,
        reply_to: str | None = None,
        tag: str | None = None,
        headers: Mapping[str, Any] | None = None,
        attachments: Iterable[AttachmentLike] | None = None,
        bounce: bool = False,
    ) -> dict[str, Any]:
        """Send a message; return ``{"message_id": str, "messages": {rcpt: {"id": int, "token": str}}}``.

        Arguments are validated before any request (see
        :func:`~airflow_provider_mail.utils.sender25_payload.build_send_message_payload`).

        :param to: recipients, a list or a comma/semicolon separated string.
        :param from_email: the From address.
        :param subject: the subject.
        :param plain_body: the text body.
        :param html_body: the HTML body.
        :param cc: Cc recipients.
        :param bcc: Bcc recipients.
        :param sender: the Sender header.
        :param reply_to: the Reply-To address.
        :param tag: Postal's tag for the message.
        :param headers: extra headers.
        :param attachments: :class:`~airflow_provider_mail.utils.sender25_payload.Attachment` objects,
            dicts (``name``, ``data`` bytes, ``content_type``) or ``(name, data, content_type)`` tuples.
        :param bounce: send as a bounce (empty envelope sender).
        """
        payload = build_send_message_payload(
            to=to,
            from_email=from_email,
            subject=subject,
            plain_body=plain_body,
            html_body=html_body,
            cc=cc,
            bcc=bcc,
            sender=sender,
            reply_to=reply_to,
            tag=tag,
            headers=headers,
            attachments=attachments,
            bounce=bounce,
        )
        recipients = payload["to"] + payload["cc"] + payload["bcc"]
        return self._expect_object(self._call(SEND_MESSAGE_PATH, payload, send_to=recipients))

    def send_raw(
        self,
        *,
        mail_from: str,
        rcpt_to: str | Iterable[str],
        data: bytes | str | Message,
        bounce: bool = False,
    ) -> dict[str, Any]:
        """Send a complete RFC 2822 message; return the same shape as :meth:`send_message`.

        ``message_id`` is ``None`` when the message has no ``Message-ID`` header.

        :param mail_from: the envelope sender.
        :param rcpt_to: envelope recipients (at least one).
        :param data: the message as bytes, text or an ``email.message.Message``.
        :param bounce: send as a bounce.
        """
        payload = build_send_raw_payload(mail_from=mail_from, rcpt_to=rcpt_to, data=data, bounce=bounce)
        return self._expect_object(self._call(SEND_RAW_PATH, payload, send_to=payload["rcpt_to"]))

    def get_message(
        self, message_id: int | str, expansions: Iterable[str] | bool = ("status", "details")
    ) -> dict[str, Any]:
        """Read a message: ``{"id", "token", <expansion>: …}``.

        :param message_id: the per-server message id (an int; a string of digits is converted).
        :param expansions: expansion names, always sent as an explicit list; ``True`` asks for all.
        """
        return self._expect_object(self._call(MESSAGE_PATH, build_message_query(message_id, expansions)))

    def get_deliveries(self, message_id: int | str) -> list[dict[str, Any]]:
        """List the delivery attempts of a message, oldest first (``[]`` while it is Pending).

        :param message_id: the per-server message id.
        """
        body = build_message_query(message_id, None)
        del body["_expansions"]
        data = self._call(DELIVERIES_PATH, body)
        if not isinstance(data, list):
            raise Sender25UnexpectedResponse(
                f"messages/deliveries returned {type(data).__name__} data, expected a list", http_status=200
            )
        return data

    def test_connection(self) -> tuple[bool, str]:
        """Check the URL and the API key without sending mail; never raises.

        Asks for the deliveries of message id 0: a valid key gets ``MessageNotFound`` back.
        """
        try:
            self._call(DELIVERIES_PATH, {"id": 0})
        except Sender25MessageNotFound:
            pass
        except Sender25AuthError as err:
            return False, f"The API key was refused: {err}"
        except Exception as err:
            return False, f"{type(err).__name__}: {err}"
        return True, f"Connected to {self.settings.base_url}; the API key was accepted."

    # -- transport --------------------------------------------------------------------------------
    def _call(self, path: str, body: dict[str, Any], *, send_to: list[str] | None = None) -> Any:
        """POST ``body`` to ``path`` with the retry rules; ``send_to`` marks a send (never re-sent once it
        may have reached the API)."""
        policy: RetryPolicy = self.settings.retry_policy
        is_send = send_to is not None
        encoded = json.dumps(body).encode("utf-8")
        retry_number = 0
        while True:
            attempt = self._attempt(path, encoded)
            if not isinstance(attempt, _Attempt):
                return attempt
            if is_send and attempt.reached_app and is_ambiguous_send_failure(attempt.error):
                raise AmbiguousSendError(
                    _ambiguous_send_text(path, attempt.error, send_to or []),
                    service="sender25",
                    recipients=send_to,
                    http_status=getattr(attempt.error, "http_status", None),
                ) from attempt.error
            if not attempt.retryable or retry_number >= policy.max_retries:
                raise attempt.error
            wait = policy.delay(retry_number, attempt.retry_after)
            retry_number += 1
            log.warning(
                "Sender25 %s failed (%s); retry %d of %d in %.2f s",
                path,
                attempt.error,
                retry_number,
                policy.max_retries,
                wait,
            )
            self._sleep(wait)

    def _attempt(self, path: str, encoded: bytes) -> Any:
        """Make one request; return the envelope's data, or an :class:`_Attempt` describing the failure."""
        settings = self.settings
        started = time.monotonic()
        try:
            response = self.session.post(
                settings.base_url + path,
                data=encoded,
                timeout=(settings.connect_timeout, settings.timeout),
                allow_redirects=False,
            )
        except requests.exceptions.ConnectTimeout as err:
            return _Attempt(
                Sender25TransportError(f"connect timeout to {settings.base_url}: {err}"),
                True,
                reached_app=False,
            )
        except requests.exceptions.ConnectionError as err:
            refused = _is_connect_failure(err)
            text = "could not connect to" if refused else "connection broken while talking to"
            return _Attempt(
                Sender25TransportError(f"{text} {settings.base_url}{path}: {err}"),
                True,
                reached_app=not refused,
            )
        except requests.exceptions.Timeout as err:
            return _Attempt(
                Sender25TransportError(f"read timeout after {settings.timeout} s on {path}: {err}"), True
            )
        log.debug(
            "Sender25 POST %s -> HTTP %s in %.3f s", path, response.status_code, time.monotonic() - started
        )
        try:
            return interpret_response(response.status_code, response.content, response.headers, path=path)
        except MailProviderError as err:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            return _Attempt(
                err,
                is_retryable_failure(err),
                retry_after=retry_after,
                reached_app=not _never_reached_app(err),
            )

    @staticmethod
    def _expect_object(data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise Sender25UnexpectedResponse(
                f"the API returned {type(data).__name__} data where an object was expected", http_status=200
            )
        return data

    # -- connection form (Airflow < 3.2 reads these; 3.2+ reads get_provider_info) -----------------
    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the connection form; kept in sync with ``get_provider_info`` by a test."""
        from airflow_provider_mail.utils.connection_form import sender25_form_widgets

        return sender25_form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden, relabelled and placeholder fields of the connection form."""
        from airflow_provider_mail.utils.connection_form import SENDER25_UI_FIELD_BEHAVIOUR

        return SENDER25_UI_FIELD_BEHAVIOUR


def _is_connect_failure(err: requests.exceptions.ConnectionError) -> bool:
    """True when the TCP connection was never established (refused, DNS failure): nothing was sent."""
    reason: Any = err.args[0] if err.args else None
    reason = getattr(reason, "reason", reason)
    return isinstance(reason, NewConnectionError)


def _never_reached_app(error: MailProviderError) -> bool:
    """429 and 503 come from the front (rate limit, maintenance) before the application sees the body."""
    return getattr(error, "http_status", None) in (429, 503)


def _ambiguous_send_text(path: str, error: MailProviderError, recipients: list[str]) -> str:
    shown = ", ".join(recipients[:5]) + (f" and {len(recipients) - 5} more" if len(recipients) > 5 else "")
    return (
        f"Sender25 may have accepted this send ({path}) but the outcome is unknown: {error}. "
        f"It was NOT retried, so nothing is sent twice. Recipients: {shown}. Before running the task again, "
        "check the server's message list in the Sender25 panel (filter by recipient or by the trace "
        "header/tag) and send again only if no message was queued."
    )


__all__ = ["Sender25ApiError", "Sender25Hook"]
