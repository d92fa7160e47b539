"""Sender25Notifier: Airflow's callbacks and Deadline Alerts delivered as e-mail through Sender25."""

from __future__ import annotations

import asyncio
import html
import warnings
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import Any

from airflow.exceptions import AirflowProviderDeprecationWarning

from airflow_provider_mail._compat import BaseNotifier, base_notifier_kwargs
from airflow_provider_mail._shared.attachments import load_attachments
from airflow_provider_mail._shared.task_context import TRACE_HEADER, resolve_from_email, trace_header_value
from airflow_provider_mail.hooks.sender25 import Sender25Hook, default_sender25_conn_id


class Sender25Notifier(BaseNotifier):
    """Send an e-mail about a task or DAG event (``on_failure_callback`` and friends, Deadline Alerts).

    Without ``subject``/``html_body`` a readable default is built from the context: DAG, task, run,
    try number, state, exception and log URL. Every argument is templated. The arguments have the
    operators' names (``attachments``, ``headers``, ``html_body``; see the docs' *One vocabulary* page).

    .. code-block:: python

        @dag(on_failure_callback=Sender25Notifier(to="oncall@acme.com.br"))
        def billing(): ...

    :param to: recipients (templated).
    :param from_email: the sender; else the connection extra, else ``[email] from_email`` (templated).
    :param subject: the subject; a readable default when ``None`` (templated).
    :param html_body: the HTML body; a default when both bodies are ``None`` (templated).
    :param plain_body: the text body (templated).
    :param cc: Cc recipients (templated).
    :param bcc: Bcc recipients (templated).
    :param sender: the Sender header (templated).
    :param reply_to: the Reply-To address (templated).
    :param tag: Postal's tag (templated), ``airflow-alert`` by default.
    :param headers: extra headers (templated).
    :param attachments: attachments (templated): paths, object-storage URLs,
        :class:`~airflow_provider_mail.attachments.Attachment` objects or ``(name, bytes, content_type)``
        tuples, as the operators take them.
    :param files: deprecated name of ``attachments`` (it warns; passing both is an error).
    :param sender25_conn_id: the Sender25 connection (templated); when ``None``, ``[email] email_conn_id``
        if it is set to something else than Airflow's ``smtp_default``, else ``sender25_default``.
    :param kwargs: passed on to ``BaseNotifier`` where this Airflow accepts them (``context`` since 3.1).
    """

    template_fields: Sequence[str] = (
        "to",
        "from_email",
        "subject",
        "html_body",
        "plain_body",
        "cc",
        "bcc",
        "sender",
        "reply_to",
        "tag",
        "headers",
        "attachments",
        "sender25_conn_id",
    )

    def __init__(
        self,
        *,
        to: str | Iterable[str],
        from_email: str | None = None,
        subject: str | None = None,
        html_body: str | None = None,
        plain_body: str | None = None,
        cc: str | Iterable[str] | None = None,
        bcc: str | Iterable[str] | None = None,
        sender: str | None = None,
        reply_to: str | None = None,
        tag: str | None = "airflow-alert",
        headers: Mapping[str, Any] | None = None,
        attachments: Iterable[Any] | str | None = None,
        sender25_conn_id: str | None = None,
        files: Iterable[Any] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**base_notifier_kwargs(kwargs))
        if files is not None:
            if attachments is not None:
                raise TypeError("Sender25Notifier takes `attachments` or its old name `files`, not both")
            warnings.warn(
                "Sender25Notifier(files=...) is deprecated: use attachments=... (the operators' name)",
                AirflowProviderDeprecationWarning,
                stacklevel=2,
            )
            attachments = files
        self.to = to
        self.from_email = from_email
        self.subject = subject
        self.html_body = html_body
        self.plain_body = plain_body
        self.cc = cc
        self.bcc = bcc
        self.sender = sender
        self.reply_to = reply_to
        self.tag = tag
        self.headers = headers
        self.attachments = attachments
        self.sender25_conn_id = sender25_conn_id

    @cached_property
    def hook(self) -> Sender25Hook:
        """The Sender25 hook."""
        return Sender25Hook(sender25_conn_id=self.sender25_conn_id or default_sender25_conn_id())

    def notify(self, context: Any) -> None:
        """Send the notification (worker, DAG processor).

        :param context: the Airflow context of the event.
        """
        self.hook.send_message(**self._build_send_kwargs(context, self.hook.from_email))

    async def async_notify(self, context: Any) -> None:
        """Send the notification from the triggerer (Deadline Alerts), without blocking its loop.

        :param context: the Airflow context of the event.
        """
        async with self.hook as hook:
            settings = await hook.aget_settings()
            # Reading the attachments is file/object-storage I/O: keep it off the triggerer's loop.
            send_kwargs = await asyncio.to_thread(self._build_send_kwargs, context, settings.from_email)
            await hook.asend_message(**send_kwargs)

    def _build_send_kwargs(self, context: Any, connection_from: str | None) -> dict[str, Any]:
        facts = describe_event(context)
        html_body, plain_body = self.html_body, self.plain_body
        if not html_body and not plain_body:
            html_body, plain_body = default_html_body(facts), default_plain_body(facts)
        kwargs = {
            "to": self.to,
            "from_email": resolve_from_email(self.from_email, connection_from),
            "subject": self.subject or default_subject(facts),
            "html_body": html_body,
            "plain_body": plain_body,
            "cc": self.cc,
            "bcc": self.bcc,
            "sender": self.sender,
            "reply_to": self.reply_to,
            "tag": self.tag,
            "headers": {**(self.headers or {}), TRACE_HEADER: trace_header_value(context)},
            "attachments": load_attachments(self.attachments) if self.attachments else None,
        }
        return {key: value for key, value in kwargs.items() if value is not None}


def describe_event(context: Any) -> dict[str, str]:
    """Collect what a person needs to know about the event; a missing key never raises.

    :param context: the Airflow context (a mapping; any key may be absent).
    """

    def get(key: str) -> Any:
        try:
            return context.get(key)
        except Exception:
            return None

    ti = get("ti") or get("task_instance")
    dag = get("dag")
    facts = {
        "dag": getattr(ti, "dag_id", None) or getattr(dag, "dag_id", None),
        "task": getattr(ti, "task_id", None),
        "run": getattr(ti, "run_id", None) or get("run_id"),
        "try": getattr(ti, "try_number", None),
        "state": getattr(ti, "state", None),
        "map index": getattr(ti, "map_index", None),
        "exception": get("exception") or get("reason"),
        "log": getattr(ti, "log_url", None),
    }
    if facts["map index"] in (None, -1):
        del facts["map index"]
    state = facts["state"]
    facts["state"] = getattr(state, "value", state)
    return {
        key: " ".join(str(value).split())[:2000] for key, value in facts.items() if value not in (None, "")
    }


def default_subject(facts: Mapping[str, str]) -> str:
    """``Airflow: task billing.send_invoice failed (try 2)``, shortened when facts are missing.

    :param facts: the output of :func:`describe_event`.
    """
    where = ".".join(part for part in (facts.get("dag"), facts.get("task")) if part) or "a DAG"
    state = facts.get("state", "needs attention")
    suffix = f" (try {facts['try']})" if "try" in facts else ""
    return f"Airflow: {where} {state}{suffix}"


def default_plain_body(facts: Mapping[str, str]) -> str:
    """A text listing of the facts.

    :param facts: the output of :func:`describe_event`.
    """
    return "\n".join(f"{key.capitalize()}: {value}" for key, value in facts.items()) + "\n"


def default_html_body(facts: Mapping[str, str]) -> str:
    """An HTML table of the facts, escaped; the log URL is a link.

    :param facts: the output of :func:`describe_event`.
    """
    rows = []
    for key, value in facts.items():
        shown = html.escape(value)
        if key == "log":
            shown = f'<a href="{html.escape(value, quote=True)}">{shown}</a>'
        rows.append(f"<tr><th align='left'>{html.escape(key.capitalize())}</th><td>{shown}</td></tr>")
    return f"<h3>{html.escape(default_subject(facts))}</h3><table>{''.join(rows)}</table>"


send_sender25_notification = Sender25Notifier
