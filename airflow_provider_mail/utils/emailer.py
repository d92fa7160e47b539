"""``[email] email_backend`` for Sender25: Airflow's own ``send_email`` delivered through the API.

.. code-block:: ini

    [email]
    email_backend = airflow_provider_mail.utils.emailer.send_email
    email_conn_id = sender25_default
    from_email = Airflow <airflow@acme.com.br>

Unlike some backends, a failed send **raises**: a task's e-mail is never silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_mail._sender25.payload import build_send_message_payload
from airflow_provider_mail._shared.attachments import load_attachments
from airflow_provider_mail._shared.task_context import resolve_from_email
from airflow_provider_mail.hooks.sender25 import Sender25Hook, default_sender25_conn_id


def send_email(
    to: str | Iterable[str],
    subject: str,
    html_content: str,
    files: Iterable[Any] | None = None,
    dryrun: bool = False,
    cc: str | Iterable[str] | None = None,
    bcc: str | Iterable[str] | None = None,
    mime_subtype: str = "mixed",
    mime_charset: str = "utf-8",
    conn_id: str | None = None,
    from_email: str | None = None,
    custom_headers: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Send an e-mail with Sender25; raise on any failure.

    :param to: recipients (a list or a comma/semicolon separated string).
    :param subject: the subject.
    :param html_content: the HTML body.
    :param files: paths of files to attach.
    :param dryrun: validate everything but send nothing.
    :param cc: Cc recipients.
    :param bcc: Bcc recipients.
    :param mime_subtype: ignored: the API builds the MIME structure.
    :param mime_charset: ignored: the API always sends UTF-8.
    :param conn_id: the Sender25 connection (``[email] email_conn_id``); ``sender25_default`` when unset
        or left at Airflow's SMTP default.
    :param from_email: the sender (``[email] from_email``); else the connection extra ``from_email``.
    :param custom_headers: extra headers.
    :param kwargs: ignored, for compatibility with Airflow's backend signature.
    """
    hook = Sender25Hook(sender25_conn_id=default_sender25_conn_id(conn_id or ""))
    send_kwargs: dict[str, Any] = {
        "to": to,
        "cc": cc,
        "bcc": bcc,
        "from_email": resolve_from_email(from_email, hook.from_email),
        "subject": subject,
        "html_body": html_content,
        "headers": dict(custom_headers or {}),
        "attachments": load_attachments(files),
    }
    if dryrun:
        build_send_message_payload(**send_kwargs)
        return {}
    with hook:
        return hook.send_message(**send_kwargs)
