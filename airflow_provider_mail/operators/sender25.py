"""Operators that send mail through Sender25: a composed message, or a complete RFC 2822 one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from email.message import Message
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_mail._compat import BaseOperator
from airflow_provider_mail.exceptions import AmbiguousSendError
from airflow_provider_mail.hooks.sender25 import Sender25Hook
from airflow_provider_mail.utils.attachments import DEFAULT_MAX_ATTACHMENT_BYTES, load_attachments
from airflow_provider_mail.utils.raw_message import load_raw_message, prepare_raw_message
from airflow_provider_mail.utils.task_context import TRACE_HEADER, resolve_from_email, trace_header_value

if TYPE_CHECKING:
    from airflow_provider_mail._compat import Context


class _Sender25Operator(BaseOperator):
    """Shared parts: the hook, and turning an ambiguous send into a message that says what to check."""

    ui_color = "#e8f1fb"

    def __init__(self, *, sender25_conn_id: str = Sender25Hook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sender25_conn_id = sender25_conn_id

    @cached_property
    def hook(self) -> Sender25Hook:
        """The Sender25 hook (created on first use, never in ``__init__``)."""
        return Sender25Hook(sender25_conn_id=self.sender25_conn_id)

    def _explain_ambiguous(self, error: AmbiguousSendError, trace: str) -> AmbiguousSendError:
        return AmbiguousSendError(
            f"{error} Look for the header {TRACE_HEADER}: {trace}. This task is not retried automatically.",
            service=error.service,
            recipients=error.recipients,
            http_status=error.http_status,
        )


class Sender25SendEmailOperator(_Sender25Operator):
    """Send one message through Sender25 and return its ids.

    The sender is ``from_email``, else the connection extra ``from_email``, else ``[email] from_email``.
    Every message carries an ``X-Airflow-Trace`` header naming the task instance. Returns (XCom)
    ``{"message_id": str, "messages": {recipient: {"id": int, "token": str}}}``.

    .. code-block:: python

        Sender25SendEmailOperator(
            task_id="send_invoice",
            to="{{ params.customer_email }}",
            subject="Invoice {{ ds }}",
            html_body="invoice.html",  # a template file next to the DAG
            attachments=["/data/invoice-{{ ds }}.pdf"],
            tag="invoice",
        )

    :param to: recipients: a list or a string separated by commas/semicolons (templated).
    :param subject: the subject (templated).
    :param html_body: HTML body, or a path ending in ``.html`` to a template file (templated).
    :param plain_body: text body, or a path ending in ``.txt`` (templated); with ``html_body`` the
        message is multipart/alternative. At least one body is required.
    :param from_email: the From address (templated).
    :param cc: Cc recipients (templated).
    :param bcc: Bcc recipients (templated).
    :param sender: the Sender header (templated).
    :param reply_to: the Reply-To address (templated).
    :param tag: Postal's tag for the message (templated).
    :param headers: extra headers (templated).
    :param attachments: paths, object-storage URLs or ``ObjectStoragePath``, or
        ``(filename, bytes, content_type)`` tuples (templated).
    :param bounce: send as a bounce message (templated).
    :param max_attachment_size: limit in bytes of the base64-encoded attachments, checked before sending.
    :param sender25_conn_id: the Sender25 connection (templated).
    """

    template_fields: Sequence[str] = (
        "to",
        "cc",
        "bcc",
        "from_email",
        "sender",
        "reply_to",
        "subject",
        "html_body",
        "plain_body",
        "tag",
        "headers",
        "attachments",
        "bounce",
        "sender25_conn_id",
    )
    template_ext: Sequence[str] = (".html", ".txt")
    template_fields_renderers = {"html_body": "html", "headers": "json", "attachments": "py"}

    def __init__(
        self,
        *,
        to: str | Iterable[str] | None = None,
        subject: str | None = None,
        html_body: str | None = None,
        plain_body: str | None = None,
        from_email: str | None = None,
        cc: str | Iterable[str] | None = None,
        bcc: str | Iterable[str] | None = None,
        sender: str | None = None,
        reply_to: str | None = None,
        tag: str | None = None,
        headers: Mapping[str, Any] | None = None,
        attachments: Iterable[Any] | str | None = None,
        bounce: bool = False,
        max_attachment_size: int | None = DEFAULT_MAX_ATTACHMENT_BYTES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.to = to
        self.subject = subject
        self.html_body = html_body
        self.plain_body = plain_body
        self.from_email = from_email
        self.cc = cc
        self.bcc = bcc
        self.sender = sender
        self.reply_to = reply_to
        self.tag = tag
        self.headers = headers
        self.attachments = attachments
        self.bounce = bounce
        self.max_attachment_size = max_attachment_size

    def render_template(
        self, content: Any, context: Any, jinja_env: Any = None, seen_oids: Any = None
    ) -> Any:
        """Render templates; attachment paths ending in ``.txt``/``.html`` stay paths, not template files."""
        if content is not None and content is self.attachments:
            template_ext, self.template_ext = self.template_ext, ()
            try:
                return super().render_template(content, context, jinja_env, seen_oids)
            finally:
                self.template_ext = template_ext
        return super().render_template(content, context, jinja_env, seen_oids)

    def execute(self, context: Context) -> dict[str, Any]:
        trace = trace_header_value(context)
        attachments = load_attachments(self.attachments, max_total_bytes=self.max_attachment_size)
        from_email = resolve_from_email(self.from_email, self.hook.from_email)
        try:
            result = self.hook.send_message(
                to=self.to,
                from_email=from_email,
                subject=self.subject,
                plain_body=self.plain_body,
                html_body=self.html_body,
                cc=self.cc,
                bcc=self.bcc,
                sender=self.sender,
                reply_to=self.reply_to,
                tag=self.tag,
                headers={**(self.headers or {}), TRACE_HEADER: trace},
                attachments=attachments,
                bounce=self.bounce,
            )
        except AmbiguousSendError as err:
            raise self._explain_ambiguous(err, trace) from err
        self.log.info(
            "Sender25 queued %d message(s), Message-ID %s: %s",
            len(result.get("messages") or {}),
            result.get("message_id"),
            {rcpt: entry.get("id") for rcpt, entry in (result.get("messages") or {}).items()},
        )
        return {"message_id": result.get("message_id"), "messages": result.get("messages") or {}}


class Sender25SendRawOperator(_Sender25Operator):
    """Send a complete RFC 2822 message through Sender25 and return its ids.

    The message must parse and have a From header; a ``Message-ID`` is added when missing (so the
    API returns it) and so is the ``X-Airflow-Trace`` header. Same XCom shape as
    :class:`Sender25SendEmailOperator`.

    :param mail_from: the envelope sender (templated).
    :param rcpt_to: envelope recipients (templated).
    :param message: an ``email.message.EmailMessage``, bytes, text, or a path to an ``.eml`` file,
        which is rendered as a template (templated).
    :param bounce: send as a bounce message.
    :param sender25_conn_id: the Sender25 connection (templated).
    """

    template_fields: Sequence[str] = ("mail_from", "rcpt_to", "message", "sender25_conn_id")
    template_ext: Sequence[str] = (".eml",)

    def __init__(
        self,
        *,
        mail_from: str,
        rcpt_to: str | Iterable[str],
        message: Message | bytes | str | Path,
        bounce: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.mail_from = mail_from
        self.rcpt_to = rcpt_to
        self.message = message
        self.bounce = bounce

    def execute(self, context: Context) -> dict[str, Any]:
        trace = trace_header_value(context)
        raw, message_id = prepare_raw_message(
            load_raw_message(self.message), extra_headers={TRACE_HEADER: trace}
        )
        try:
            result = self.hook.send_raw(
                mail_from=self.mail_from, rcpt_to=self.rcpt_to, data=raw, bounce=self.bounce
            )
        except AmbiguousSendError as err:
            raise self._explain_ambiguous(err, trace) from err
        self.log.info("Sender25 queued raw message %s for %s", message_id, list(result.get("messages") or {}))
        return {"message_id": result.get("message_id"), "messages": result.get("messages") or {}}
