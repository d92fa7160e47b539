"""Sender25Hook: the HTTP client of the Sender25 (Postal legacy) API, and nothing else.

Transport rules (see ``docs/connections/sender25.rst``): JSON bodies, one pooled keep-alive session,
timeouts always, redirects never followed, success decided from the envelope's ``status``.
Reads are retried on connection errors, timeouts, 429 and 5xx. A send is retried only when it
provably never reached the application; anything else raises :class:`AmbiguousSendError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_mail import __version__
from airflow_provider_mail._sender25.connection import Sender25ConnectionSettings, resolve_sender25_settings
from airflow_provider_mail._sender25.payload import (
    AttachmentLike,
    build_message_query,
    build_send_message_payload,
    build_send_raw_payload,
)
from airflow_provider_mail._sender25.response import (
    expect_list,
    expect_object,
    expect_send_result,
    interpret_response,
)
from airflow_provider_mail._transport.failures import AttemptFailed
from airflow_provider_mail._transport.http import HttpRequest
from airflow_provider_mail._transport.retry import Attempts, SendIdentity
from airflow_provider_mail.exceptions import (
    Sender25AuthError,
    Sender25ConfigurationError,
    Sender25MessageNotFound,
    Sender25TransportError,
)
from airflow_provider_mail.hooks._base import (
    HttpServiceHook,
    connection_form_widgets,
    connection_ui_field_behaviour,
)

if TYPE_CHECKING:
    from email.message import Message

    from airflow_provider_mail._compat import Connection


#: Where a user finds out whether an ambiguous send was queued.
WHERE_TO_LOOK = (
    "check the server's message list in the Sender25 panel (search by recipient, tag, or the "
    "X-Airflow-Trace header / Message-ID named above)"
)
SEND_MESSAGE_PATH = "/api/v1/send/message"
SEND_RAW_PATH = "/api/v1/send/raw"
MESSAGE_PATH = "/api/v1/messages/message"
DELIVERIES_PATH = "/api/v1/messages/deliveries"


class Sender25Hook(HttpServiceHook[Sender25ConnectionSettings]):
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

    transport_error = Sender25TransportError
    configuration_error = Sender25ConfigurationError

    # -- connection -------------------------------------------------------------------------------
    def _resolve_settings(self, conn: Connection) -> Sender25ConnectionSettings:
        return resolve_sender25_settings(
            conn, timeout=self._timeout, max_retries=self._max_retries, retry_backoff=self._retry_backoff
        )

    def _secrets(self, settings: Sender25ConnectionSettings) -> list[str]:
        return [settings.api_key]

    def _endpoint(self, settings: Sender25ConnectionSettings) -> str:
        return settings.base_url

    def _session_headers(self) -> dict[str, str]:
        # the key is a session default too, for users who call get_conn() directly
        return self._request_headers()

    @property
    def from_email(self) -> str | None:
        """The connection's default sender (extra ``from_email``), if set."""
        return self.settings.from_email

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
        :param attachments: :class:`~airflow_provider_mail.attachments.Attachment` objects,
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
        return self.send_payload(payload)

    def send_payload(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Send a ``send/message`` body built (and so validated) by
        :func:`~airflow_provider_mail._sender25.payload.build_send_message_payload`; same answer as
        :meth:`send_message`. Bulk senders validate every row before its turn, then send it as built.

        :param payload: the request body.
        """
        recipients = payload["to"] + payload["cc"] + payload["bcc"]
        return self._call(SEND_MESSAGE_PATH, payload, expect_send_result, send_to=recipients)

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
        return self._call(SEND_RAW_PATH, payload, expect_send_result, send_to=payload["rcpt_to"])

    def get_message(
        self, message_id: int | str, expansions: Iterable[str] | bool = ("status", "details")
    ) -> dict[str, Any]:
        """Read a message: ``{"id", "token", <expansion>: …}``.

        :param message_id: the per-server message id (an int; a string of digits is converted).
        :param expansions: expansion names, always sent as an explicit list; ``True`` asks for all.
        """
        return self._call(MESSAGE_PATH, build_message_query(message_id, expansions), expect_object)

    def get_deliveries(self, message_id: int | str) -> list[dict[str, Any]]:
        """List the delivery attempts of a message, oldest first (``[]`` while it is Pending).

        :param message_id: the per-server message id.
        """
        return self._call(DELIVERIES_PATH, _deliveries_query(message_id), expect_list)

    def test_connection(self) -> tuple[bool, str]:
        """Check the URL and the API key without sending mail; never raises.

        Asks for the deliveries of message id 0: a valid key gets ``MessageNotFound`` back.
        """
        try:
            self._call(DELIVERIES_PATH, {"id": 0}, expect_list)
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
        return await self._acall(SEND_MESSAGE_PATH, payload, expect_send_result, send_to=recipients)

    async def asend_raw(
        self,
        *,
        mail_from: str,
        rcpt_to: str | Iterable[str],
        data: bytes | str | Message,
        bounce: bool = False,
    ) -> dict[str, Any]:
        """Async :meth:`send_raw`.

        :param mail_from: the envelope sender.
        :param rcpt_to: envelope recipients (at least one).
        :param data: the message as bytes, text or an ``email.message.Message``.
        :param bounce: send as a bounce.
        """
        payload = build_send_raw_payload(mail_from=mail_from, rcpt_to=rcpt_to, data=data, bounce=bounce)
        return await self._acall(SEND_RAW_PATH, payload, expect_send_result, send_to=payload["rcpt_to"])

    async def aget_message(
        self, message_id: int | str, expansions: Iterable[str] | bool = ("status", "details")
    ) -> dict[str, Any]:
        """Async :meth:`get_message`.

        :param message_id: the per-server message id.
        :param expansions: expansion names (an explicit list is always sent).
        """
        return await self._acall(MESSAGE_PATH, build_message_query(message_id, expansions), expect_object)

    async def aget_deliveries(self, message_id: int | str) -> list[dict[str, Any]]:
        """Async :meth:`get_deliveries`.

        :param message_id: the per-server message id.
        """
        return await self._acall(DELIVERIES_PATH, _deliveries_query(message_id), expect_list)

    # -- transport: the core decides, the drivers move bytes ---------------------------------------
    def _call(
        self, path: str, body: dict[str, Any], shape: _Shape, *, send_to: list[str] | None = None
    ) -> Any:
        """POST ``body`` to ``path`` under the retry policy; ``send_to`` marks a send."""
        request, attempts = self._request(path, body), self._attempts(path, send_to)
        while True:
            try:
                return shape(self._interpret(self._driver.send(request), path), path)
            except AttemptFailed as failed:
                self._sleep(attempts.wait_after(failed))

    async def _acall(
        self, path: str, body: dict[str, Any], shape: _Shape, *, send_to: list[str] | None = None
    ) -> Any:
        """Async :meth:`_call`: the same request, interpretation and retry decisions over httpx."""
        await self.aget_settings()
        request, attempts = self._request(path, body), self._attempts(path, send_to)
        while True:
            try:
                return shape(self._interpret(await self._async_driver.send(request), path), path)
            except AttemptFailed as failed:
                await self._asleep(attempts.wait_after(failed))

    def _request(self, path: str, body: dict[str, Any]) -> HttpRequest:
        return HttpRequest(
            "POST", self.settings.base_url + path, self._request_headers(), content=json.dumps(body).encode()
        )

    def _interpret(self, response: Any, path: str) -> Any:
        return interpret_response(response, path=path, redact=self.redact)

    def _attempts(self, path: str, send_to: list[str] | None) -> Attempts:
        send = None if send_to is None else SendIdentity("sender25", path, send_to, WHERE_TO_LOOK)
        return Attempts(self.settings.retry_policy, f"Sender25 {path}", send=send)

    def _request_headers(self) -> dict[str, str]:
        return {
            "X-Server-API-Key": self.settings.api_key,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"airflow-provider-mail/{__version__}",
        }

    # -- connection form (Airflow < 3.2 reads these from this class itself; 3.2+ reads get_provider_info)
    get_connection_form_widgets = classmethod(connection_form_widgets)
    get_ui_field_behaviour = classmethod(connection_ui_field_behaviour)


_Shape = Callable[[Any, str], Any]


def default_sender25_conn_id(configured: str | None = None) -> str:
    """The connection of a mail sent on Airflow's behalf (notifier, ``[email]`` backend).

    ``configured`` (default: ``[email] email_conn_id``) when it names a connection of ours, else
    ``sender25_default``: Airflow's own default for that option, ``smtp_default``, is an SMTP connection.

    :param configured: the connection id the caller was given, if any.
    """
    if configured is None:
        from airflow.configuration import conf

        configured = conf.get("email", "email_conn_id", fallback=None)
    configured = (configured or "").strip()
    if configured and configured != "smtp_default":
        return configured
    return Sender25Hook.default_conn_name


def _deliveries_query(message_id: int | str) -> dict[str, Any]:
    return {"id": build_message_query(message_id, None)["id"]}


__all__ = ["Sender25Hook"]
