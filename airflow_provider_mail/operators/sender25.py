"""Operators that send mail through Sender25: a composed message, or a complete RFC 2822 one."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from email.message import Message
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_mail._shared.raw_message import (
    eml_template_not_utf8,
    load_raw_message,
    prepare_raw_message,
)
from airflow_provider_mail._shared.task_context import TRACE_HEADER, trace_header_value
from airflow_provider_mail.hooks.sender25 import Sender25Hook
from airflow_provider_mail.operators._compose import COMPOSE_TEMPLATE_FIELDS, ComposeEmailOperator
from airflow_provider_mail.operators._exactly_once import (
    PreparedSend,
    SendOnceOperator,
    explain_ambiguous,
    recipient_list,
)

if TYPE_CHECKING:
    from airflow_provider_mail._compat import Context


class Sender25SendEmailOperator(ComposeEmailOperator):
    """Send one message through Sender25 and return its ids.

    The sender is ``from_email``, else the connection extra ``from_email``, else ``[email] from_email``.
    Every message carries an ``X-Airflow-Trace`` header naming the task instance. Returns (XCom)
    ``{"message_id": str, "messages": {recipient: {"id": int, "token": str}}}``.

    Sent at most once per task instance: a retry returns the earlier try's XCom instead of sending
    again (see the README section "Exactly once"); clearing the task instance sends again.

    .. code-block:: python

        Sender25SendEmailOperator(
            task_id="send_invoice",
            to="{{ params.customer_email }}",
            subject="Invoice {{ ds }}",
            html_body="invoice.html",  # a template file next to the DAG
            attachments=["/data/invoice-{{ ds }}.pdf"],
            tag="invoice",
        )

    Takes every argument of :class:`~airflow_provider_mail.operators._compose.ComposeEmailOperator`, and:

    :param tag: Postal's tag for the message (templated).
    :param bounce: send as a bounce message (templated).
    :param sender25_conn_id: the Sender25 connection (templated).
    """

    template_fields: Sequence[str] = (*COMPOSE_TEMPLATE_FIELDS, "tag", "bounce", "sender25_conn_id")

    def __init__(
        self,
        *,
        tag: str | None = None,
        bounce: bool = False,
        sender25_conn_id: str = Sender25Hook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.tag = tag
        self.bounce = bounce
        self.sender25_conn_id = sender25_conn_id

    @cached_property
    def hook(self) -> Sender25Hook:
        """The Sender25 hook (created on first use, never in ``__init__``)."""
        return Sender25Hook(sender25_conn_id=self.sender25_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        return self.send_once(context, lambda: self.prepare_send(context))

    def prepare_send(self, context: Context) -> PreparedSend:
        """Render and load the message (no network); return the send for the ledger to run.

        :param context: the task context.
        """
        arguments = self.message_arguments(context, connection_from=self.hook.from_email)

        def send() -> dict[str, Any]:
            result = self.hook.send_message(**arguments, tag=self.tag, bounce=self.bounce)
            messages = result.get("messages") or {}
            self.log.info(
                "Sender25 queued %d message(s), Message-ID %s: %s",
                len(messages),
                result.get("message_id"),
                {rcpt: entry.get("id") for rcpt, entry in messages.items()},
            )
            return {"message_id": result.get("message_id"), "messages": messages}

        return PreparedSend(
            service="sender25",
            trace=arguments["headers"][TRACE_HEADER],
            send=send,
            mail_from=arguments["from_email"],
            recipients=recipient_list(arguments["to"], arguments["cc"], arguments["bcc"]),
        )


class Sender25SendRawOperator(SendOnceOperator):
    """Send a complete RFC 2822 message through Sender25 and return its ids.

    The message must parse and have a From header; a ``Message-ID`` is added when missing (so the
    API returns it) and so is the ``X-Airflow-Trace`` header. Same XCom shape, and the same
    once-per-task-instance guarantee, as :class:`Sender25SendEmailOperator`.

    :param mail_from: the envelope sender (templated).
    :param rcpt_to: envelope recipients (templated).
    :param message: an ``email.message.EmailMessage``, bytes, text, or a path to an ``.eml`` file,
        which is rendered as a template (templated).
    :param bounce: send as a bounce message.
    :param sender25_conn_id: the Sender25 connection (templated).
    :param on_unknown_outcome: ``"fail"`` (default) or ``"resend"``: see
        :class:`~airflow_provider_mail.operators._exactly_once.SendOnceOperator`.
    :param ledger: where the send ledger lives (default: Airflow's metadata database).
    """

    template_fields: Sequence[str] = ("mail_from", "rcpt_to", "message", "sender25_conn_id")
    template_ext: Sequence[str] = (".eml",)
    ui_color = "#e8f1fb"

    def __init__(
        self,
        *,
        mail_from: str,
        rcpt_to: str | Iterable[str],
        message: Message | bytes | str | Path,
        bounce: bool = False,
        sender25_conn_id: str = Sender25Hook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.mail_from = mail_from
        self.rcpt_to = rcpt_to
        self.message = message
        self.bounce = bounce
        self.sender25_conn_id = sender25_conn_id

    @cached_property
    def hook(self) -> Sender25Hook:
        """The Sender25 hook (created on first use, never in ``__init__``)."""
        return Sender25Hook(sender25_conn_id=self.sender25_conn_id)

    def render_template(self, content: Any, *args: Any, **kwargs: Any) -> Any:
        """Render as Airflow does; an ``.eml`` template that is not UTF-8 is a named error, not Jinja's."""
        try:
            return super().render_template(content, *args, **kwargs)
        except UnicodeDecodeError as err:
            if isinstance(content, str) and content.endswith(".eml"):
                raise eml_template_not_utf8(content, err) from None
            raise

    def execute(self, context: Context) -> dict[str, Any]:
        return self.send_once(context, lambda: self.prepare_send(context))

    def prepare_send(self, context: Context) -> PreparedSend:
        """Load the message and add its headers (no network); return the send for the ledger to run.

        :param context: the task context.
        """
        trace = trace_header_value(context)
        raw, message_id = prepare_raw_message(
            load_raw_message(self.message), extra_headers={TRACE_HEADER: trace}
        )

        def send() -> dict[str, Any]:
            result = self.hook.send_raw(
                mail_from=self.mail_from, rcpt_to=self.rcpt_to, data=raw, bounce=self.bounce
            )
            messages = result.get("messages") or {}
            self.log.info("Sender25 queued raw message %s for %s", message_id, list(messages))
            return {"message_id": result.get("message_id"), "messages": messages}

        return PreparedSend(
            service="sender25",
            trace=trace,
            send=send,
            message_id=message_id,
            mail_from=self.mail_from,
            recipients=recipient_list(self.rcpt_to),
        )


__all__ = ["Sender25SendEmailOperator", "Sender25SendRawOperator", "explain_ambiguous"]
