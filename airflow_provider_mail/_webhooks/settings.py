"""The webhook settings of a ``sender25`` connection (no I/O).

Extras (all optional):

* ``webhook_public_key`` — the signing key's public half: a PEM or the ``p=`` value of Postal's
  ``postal._domainkey`` TXT record. Empty: the JWKS at ``<connection base URL>/.well-known/jwks.json``.
* ``webhook_allow_sha1`` — accept ``X-Postal-Signature`` (SHA-1) when ``X-Postal-Signature-256`` is absent
  (Postal before 3.2). Default ``true``; set ``false`` once your Postal sends SHA-256.
* ``webhook_max_age`` — seconds a webhook's ``timestamp`` may lie in the past (default 7200: longer than
  Postal's ~36 minutes of retries).
* ``webhook_max_body_bytes`` — the largest body read (default 262144).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_provider_mail._shared.connection import ConnectionExtras
from airflow_provider_mail._webhooks.envelope import DEFAULT_MAX_AGE_SECONDS, DEFAULT_MAX_BODY_BYTES
from airflow_provider_mail._webhooks.refusal import WebhookRefused

if TYPE_CHECKING:
    from airflow_provider_mail._compat import Connection

CONN_TYPE = "sender25"


@dataclass(frozen=True)
class WebhookSettings:
    """How webhooks of one connection are verified.

    :param conn_id: the connection id.
    :param public_key: the configured key text, or ``None`` to use the JWKS.
    :param allow_sha1: accept the SHA-1 header when the SHA-256 one is absent.
    :param max_age: the oldest timestamp accepted (seconds).
    :param max_body_bytes: the largest body read.
    """

    conn_id: str
    public_key: str | None
    allow_sha1: bool = True
    max_age: float = DEFAULT_MAX_AGE_SECONDS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES


def resolve_webhook_settings(conn: Connection) -> WebhookSettings:
    """Read the webhook extras of ``conn``.

    :param conn: the Airflow connection named in the webhook URL.
    :raises WebhookRefused: ``unknown-connection`` when it is not a ``sender25`` connection (the caller
        answers exactly as for a bad signature).
    :raises MailConfigurationError: an extra has a wrong value.
    """
    if (conn.conn_type or "").strip().lower() != CONN_TYPE:
        raise WebhookRefused("unknown-connection", f"connection type is {conn.conn_type!r}, not sender25")
    extras = ConnectionExtras.from_connection(conn, conn_type=CONN_TYPE)
    key = extras.text("webhook_public_key")
    return WebhookSettings(
        conn_id=conn.conn_id,
        public_key=key.strip() if key and key.strip() else None,
        allow_sha1=extras.boolean("webhook_allow_sha1", True),
        max_age=extras.number("webhook_max_age", DEFAULT_MAX_AGE_SECONDS, positive=True),
        max_body_bytes=max(1, extras.integer("webhook_max_body_bytes", DEFAULT_MAX_BODY_BYTES)),
    )
