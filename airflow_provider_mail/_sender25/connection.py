"""Read an Airflow connection of type ``sender25`` into validated, typed settings (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from airflow_provider_mail._shared.connection import (
    ConnectionExtras,
    build_base_url,
    check_secret,
)
from airflow_provider_mail._transport.retry import RetryPolicy
from airflow_provider_mail.exceptions import MailConfigurationError

if TYPE_CHECKING:
    from airflow_provider_mail._compat import Connection

DEFAULT_SENDER25_URL = "https://br-app.sender25.com"


@dataclass(frozen=True)
class Sender25ConnectionSettings:
    """Everything the hook needs from the connection; the key never appears in ``repr``.

    :param conn_id: the connection id (for messages).
    :param base_url: scheme, host, port and optional path prefix, without a trailing slash.
    :param api_key: the server API key (``X-Server-API-Key``).
    :param timeout: read timeout in seconds.
    :param connect_timeout: TCP/TLS connect timeout in seconds.
    :param verify: TLS verification: a bool or a CA bundle path.
    :param retry_policy: retries for reads and never-reached sends.
    :param from_email: the default sender for operators.
    """

    conn_id: str
    base_url: str
    api_key: str = field(repr=False)
    timeout: float = 30.0
    connect_timeout: float = 10.0
    verify: bool | str = True
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    from_email: str | None = None


def resolve_sender25_settings(
    conn: Connection,
    *,
    timeout: float | None = None,
    max_retries: int | None = None,
    retry_backoff: float | None = None,
) -> Sender25ConnectionSettings:
    """Validate a ``sender25`` connection; hook arguments override its extras.

    :param conn: the Airflow connection.
    :param timeout: overrides the ``timeout`` extra.
    :param max_retries: overrides the ``max_retries`` extra.
    :param retry_backoff: overrides the ``retry_backoff`` extra.
    """
    extras = ConnectionExtras.from_connection(conn, conn_type="sender25")
    if not conn.password:
        raise MailConfigurationError(
            f"Connection {conn.conn_id!r} has no API key: put the Sender25 server API key in the password"
        )
    # The key travels in the X-Server-API-Key header: a pasted newline or a non-ASCII character would
    # fail inside the HTTP client with an error that may quote the header.
    check_secret(conn.password, conn_id=conn.conn_id, field="password", what="the Sender25 API key")
    policy = RetryPolicy(
        max_retries=extras.integer("max_retries", 3, override=max_retries),
        backoff=extras.number("retry_backoff", 1.0, override=retry_backoff),
        max_wait=extras.number("retry_max_wait", 60.0),
    )
    return Sender25ConnectionSettings(
        conn_id=conn.conn_id,
        base_url=build_base_url(
            conn,
            default_url=DEFAULT_SENDER25_URL,
            allow_insecure_http=extras.boolean("allow_insecure_http", False),
        ),
        api_key=conn.password,
        timeout=extras.number("timeout", 30.0, positive=True, override=timeout),
        connect_timeout=extras.number("connect_timeout", 10.0, positive=True),
        verify=extras.verify(),
        retry_policy=policy,
        from_email=extras.text("from_email"),
    )
