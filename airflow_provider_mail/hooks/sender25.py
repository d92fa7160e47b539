"""Sender25Hook: the HTTP client of the Sender25 (Postal legacy) API, and nothing else.

Transport rules (see ``docs/connections/sender25.rst``): JSON bodies, one pooled keep-alive session,
timeouts always, redirects never followed, success decided from the envelope's ``status``.
Reads are retried on connection errors, timeouts, 429 and 5xx. A send is retried only when it
provably never reached the application; anything else raises :class:`AmbiguousSendError`.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_mail import __version__
from airflow_provider_mail._compat import BaseHook, get_async_connection, mask_secret
from airflow_provider_mail._sender25.payload import (
    AttachmentLike,
    build_message_query,
    build_send_message_payload,
    build_send_raw_payload,
)
from airflow_provider_mail._shared.connection import Sender25ConnectionSettings, resolve_sender25_settings
from airflow_provider_mail._transport.async_clients import request_slots, shared_async_client
from airflow_provider_mail._transport.sender25_attempt import (
    FailedAttempt,
    attempt_with_httpx,
    attempt_with_requests,
    next_wait,
)
from airflow_provider_mail.exceptions import (
    Sender25AuthError,
    Sender25MessageNotFound,
    Sender25UnexpectedResponse,
)

if TYPE_CHECKING:
    from email.message import Message

    import requests

    from airflow_provider_mail._compat import Connection


SEND_MESSAGE_PATH = "/api/v1/send/message"
SEND_RAW_PATH = "/api/v1/send/raw"
MESSAGE_PATH = "/api/v1/messages/message"
DELIVERIES_PATH = "/api/v1/messages/deliveries"


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
        """One pooled keep-alive session for every call of this hook.

        Proxy and CA-bundle variables are read once here: by default requests re-scans the whole
        environment on every request, which cost a fifth of a send's time in the benchmark.
        """
        import requests

        session = requests.Session()
        session.headers.update(self._request_headers())
        session.trust_env = False
        session.proxies.update(requests.utils.get_environ_proxies(self.settings.base_url))
        session.verify = self.settings.verify
        if session.verify is True:
            session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
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
        :func:`~airflow_provider_mail._sender25.payload.build_send_message_payload`).

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
        :param attachments: :class:`~airflow_provider_mail._sender25.payload.Attachment` objects,
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
        return self._expect_list(self._call(DELIVERIES_PATH, _deliveries_query(message_id)))

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

    # -- async API (triggers, async notifiers): same validation and payloads ---------------------
    async def asend_message(self, **kwargs: Any) -> dict[str, Any]:
        """Async :meth:`send_message`; takes the same keyword arguments.

        :param kwargs: the arguments of :meth:`send_message`.
        """
        payload = build_send_message_payload(**kwargs)
        recipients = payload["to"] + payload["cc"] + payload["bcc"]
        return self._expect_object(await self._acall(SEND_MESSAGE_PATH, payload, send_to=recipients))

    async def aget_message(
        self, message_id: int | str, expansions: Iterable[str] | bool = ("status", "details")
    ) -> dict[str, Any]:
        """Async :meth:`get_message`.

        :param message_id: the per-server message id.
        :param expansions: expansion names (an explicit list is always sent).
        """
        return self._expect_object(
            await self._acall(MESSAGE_PATH, build_message_query(message_id, expansions))
        )

    async def aget_deliveries(self, message_id: int | str) -> list[dict[str, Any]]:
        """Async :meth:`get_deliveries`.

        :param message_id: the per-server message id.
        """
        return self._expect_list(await self._acall(DELIVERIES_PATH, _deliveries_query(message_id)))

    async def aget_settings(self) -> Sender25ConnectionSettings:
        """Fetch the connection without blocking the event loop, then validate it (cached)."""
        if "settings" not in self.__dict__:
            self.__dict__["conn"] = await get_async_connection(self.sender25_conn_id)
        return self.settings

    async def aclose(self) -> None:
        """Nothing to release: async calls use the event loop's shared client (see ``async_clients``)."""

    async def __aenter__(self) -> Sender25Hook:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- transport --------------------------------------------------------------------------------
    def _call(self, path: str, body: dict[str, Any], *, send_to: list[str] | None = None) -> Any:
        """POST ``body`` to ``path`` with the retry rules; ``send_to`` marks a send."""
        encoded = json.dumps(body).encode("utf-8")
        retry_number = 0
        while True:
            result = attempt_with_requests(self.session, self.settings, path, encoded)
            if not isinstance(result, FailedAttempt):
                return result
            wait = next_wait(
                result, path=path, send_to=send_to, retry_number=retry_number, settings=self.settings
            )
            retry_number += 1
            self._sleep(wait)

    async def _acall(self, path: str, body: dict[str, Any], *, send_to: list[str] | None = None) -> Any:
        """Async :meth:`_call` over httpx, with the same retry decision."""
        settings = await self.aget_settings()
        encoded = json.dumps(body).encode("utf-8")
        retry_number = 0
        while True:
            client = shared_async_client(
                verify=settings.verify, timeout=settings.timeout, connect_timeout=settings.connect_timeout
            )
            async with request_slots():
                result = await attempt_with_httpx(client, settings, path, encoded, self._request_headers())
            if not isinstance(result, FailedAttempt):
                return result
            wait = next_wait(result, path=path, send_to=send_to, retry_number=retry_number, settings=settings)
            retry_number += 1
            await asyncio.sleep(wait)

    def _request_headers(self) -> dict[str, str]:
        return {
            "X-Server-API-Key": self.settings.api_key,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"airflow-provider-mail/{__version__}",
        }

    @staticmethod
    def _expect_object(data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise Sender25UnexpectedResponse(
                f"the API returned {type(data).__name__} data where an object was expected", http_status=200
            )
        return data

    @staticmethod
    def _expect_list(data: Any) -> list[dict[str, Any]]:
        if not isinstance(data, list):
            raise Sender25UnexpectedResponse(
                f"messages/deliveries returned {type(data).__name__} data, expected a list", http_status=200
            )
        return data

    # -- connection form (Airflow < 3.2 reads these from this class itself; 3.2+ reads get_provider_info)
    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the connection form, generated from ``_shared.fields``."""
        from airflow_provider_mail._shared.fields import connection_form_widgets

        return connection_form_widgets(cls.conn_type)

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden, relabelled and placeholder fields of the connection form."""
        from airflow_provider_mail._shared.fields import ui_field_behaviour

        return ui_field_behaviour(cls.conn_type)


def _deliveries_query(message_id: int | str) -> dict[str, Any]:
    return {"id": build_message_query(message_id, None)["id"]}


__all__ = ["Sender25Hook"]
