"""Arguments shared by every operator that composes a message (Sender25 API and xmailer SMTP)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from airflow_provider_mail._shared.addresses import validated_headers
from airflow_provider_mail._shared.attachments import DEFAULT_MAX_ATTACHMENT_BYTES, load_attachments
from airflow_provider_mail._shared.task_context import TRACE_HEADER, resolve_from_email, trace_header_value
from airflow_provider_mail.operators._exactly_once import SendOnceOperator

#: The fields of a message (a bulk send renders them per row).
MESSAGE_FIELDS: tuple[str, ...] = (
    "to",
    "cc",
    "bcc",
    "subject",
    "plain_body",
    "html_body",
    "headers",
    "attachments",
)
COMPOSE_TEMPLATE_FIELDS: tuple[str, ...] = (
    "to",
    "cc",
    "bcc",
    "from_email",
    "sender",
    "reply_to",
    "subject",
    "html_body",
    "plain_body",
    "headers",
    "attachments",
)


class ComposeEmailOperator(SendOnceOperator):
    """Base of the send operators: recipients, sender, subject, bodies, headers and attachments.

    Subclasses implement :meth:`execute` with :meth:`message_arguments` and
    :meth:`~airflow_provider_mail.operators._exactly_once.SendOnceOperator.send_once`. Attachment
    paths that end in ``.txt``/``.html`` are rendered as strings, not loaded as template files.

    :param to: recipients: a list or a string separated by commas/semicolons (templated).
    :param subject: the subject (templated).
    :param html_body: HTML body, or a path ending in ``.html`` to a template file (templated).
    :param plain_body: text body, or a path ending in ``.txt`` (templated).
    :param from_email: the sender; else the connection extra ``from_email``, else ``[email] from_email``.
    :param cc: Cc recipients (templated).
    :param bcc: Bcc recipients (templated).
    :param sender: the Sender header (templated).
    :param reply_to: the Reply-To address (templated).
    :param headers: extra headers (templated).
    :param attachments: paths, object-storage URLs or ``ObjectStoragePath``, or
        ``(filename, bytes, content_type)`` tuples (templated).
    :param max_attachment_size: limit in bytes of the base64-encoded attachments, checked before sending.
    :param on_unknown_outcome: ``"fail"`` (default) or ``"resend"``: see
        :class:`~airflow_provider_mail.operators._exactly_once.SendOnceOperator`.
    :param ledger: where the send ledger lives (default: Airflow's metadata database).
    """

    template_ext: Sequence[str] = (".html", ".txt")
    template_fields_renderers = {"html_body": "html", "headers": "json", "attachments": "py"}
    ui_color = "#e8f1fb"

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
        headers: Mapping[str, Any] | None = None,
        attachments: Iterable[Any] | str | None = None,
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
        self.headers = headers
        self.attachments = attachments
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

    def message_arguments(
        self,
        context: Any,
        *,
        connection_from: str | None,
        values: Mapping[str, Any] | None = None,
        trace: str | None = None,
    ) -> dict[str, Any]:
        """The rendered message arguments: attachments loaded, sender resolved, trace header added.

        :param context: the task context.
        :param connection_from: the connection's default sender.
        :param values: the message fields (``to`` ... ``attachments``) when not this operator's own
            (a bulk row's, rendered with ``row``).
        :param trace: the ``X-Airflow-Trace`` value (default: this task instance's).
        """
        given = values if values is not None else {name: getattr(self, name) for name in MESSAGE_FIELDS}
        return {
            "to": given["to"],
            "cc": given["cc"],
            "bcc": given["bcc"],
            "from_email": resolve_from_email(self.from_email, connection_from),
            "sender": self.sender,
            "reply_to": self.reply_to,
            "subject": given["subject"],
            "plain_body": given["plain_body"],
            "html_body": given["html_body"],
            "headers": {
                **validated_headers(given["headers"]),
                TRACE_HEADER: trace if trace is not None else trace_header_value(context),
            },
            "attachments": load_attachments(given["attachments"], max_total_bytes=self.max_attachment_size),
        }
