"""Read an Airflow connection of type ``xmailer`` into validated settings for the report and SMTP hooks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from airflow_provider_mail._shared.connection import (
    ConnectionExtras,
    build_base_url,
    check_secret,
    is_loopback,
)
from airflow_provider_mail._transport.retry import RetryPolicy
from airflow_provider_mail.exceptions import MailConfigurationError

if TYPE_CHECKING:
    from airflow_provider_mail._compat import Connection

DEFAULT_REPORT_HOST = "https://api.xmailer.com.br"
DEFAULT_REPORT_PATH = "/http/report.php"
DEFAULT_TIMEZONE = "America/Sao_Paulo"
DEFAULT_SMTP_HOST = "smtp.xmailer.com.br"
SMTP_TLS_MODES = ("starttls", "ssl", "none")


@dataclass(frozen=True)
class XmailerConnectionSettings:
    """Everything the xmailer hooks need; secrets never appear in ``repr``.

    :param conn_id: the connection id.
    :param report_url: the full report endpoint URL.
    :param username: the SMTP user (``usuario_smtp``).
    :param password: the SMTP password, or the report token in ``token`` auth mode.
    :param auth_mode: ``"password"`` (user + password) or ``"token"`` (``token_auth``).
    :param timezone_name: the service's time zone (report times are its wall time).
    :param report_method: ``"post"`` (default: the password stays out of URLs) or ``"get"``.
    :param timeout: read timeout in seconds (HTTP and SMTP).
    :param connect_timeout: connect timeout in seconds.
    :param verify: TLS verification of the report endpoint: a bool or a CA bundle path.
    :param retry_policy: retries of report requests and of SMTP connections (never after DATA).
    :param smtp_host: the relay host.
    :param smtp_port: the relay port (587 STARTTLS, 465 implicit TLS).
    :param smtp_tls: ``"starttls"``, ``"ssl"`` or ``"none"`` (loopback only, unless allowed).
    :param smtp_ca_file: a CA bundle to verify the relay's certificate, if not the system's.
    :param smtp_verify: whether to verify the relay's certificate.
    :param from_email: the default sender.
    """

    conn_id: str
    report_url: str
    username: str
    password: str = field(repr=False)
    auth_mode: str = "password"
    timezone_name: str = DEFAULT_TIMEZONE
    report_method: str = "post"
    timeout: float = 60.0
    connect_timeout: float = 10.0
    verify: bool | str = True
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    smtp_host: str = DEFAULT_SMTP_HOST
    smtp_port: int = 587
    smtp_tls: str = "starttls"
    smtp_ca_file: str | None = None
    smtp_verify: bool = True
    from_email: str | None = None

    @property
    def timezone(self) -> ZoneInfo:
        """The service's time zone as a ``ZoneInfo``."""
        return ZoneInfo(self.timezone_name)


def resolve_xmailer_settings(
    conn: Connection, *, max_retries: int | None = None
) -> XmailerConnectionSettings:
    """Validate an ``xmailer`` connection.

    :param conn: the Airflow connection.
    :param max_retries: overrides the ``max_retries`` extra.
    """
    extras = ConnectionExtras.from_connection(conn, conn_type="xmailer")
    auth_mode = (extras.text("auth") or "password").lower()
    if auth_mode not in ("password", "token"):
        raise MailConfigurationError(
            f"Connection {conn.conn_id!r}: extra 'auth' must be 'password' or 'token'"
        )
    if not conn.password:
        raise MailConfigurationError(
            f"Connection {conn.conn_id!r} has no password: put the SMTP password (or the report token with "
            "extra auth=token) in the password field"
        )
    if auth_mode == "password" and not conn.login:
        raise MailConfigurationError(
            f"Connection {conn.conn_id!r} has no login: put the SMTP user in the login"
        )
    # smtplib encodes AUTH as ASCII (UnicodeEncodeError otherwise) and a pasted newline would only
    # surface as a refused login, so both are checked here without ever showing the value.
    check_secret(
        conn.password,
        conn_id=conn.conn_id,
        field="password",
        what="the SMTP password or token",
        inner_spaces=True,
    )
    if conn.login:
        check_secret(conn.login, conn_id=conn.conn_id, field="login", what="the SMTP user")
    timezone_name = extras.text("timezone") or DEFAULT_TIMEZONE
    try:
        ZoneInfo(timezone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise MailConfigurationError(
            f"Connection {conn.conn_id!r}: unknown time zone {timezone_name!r}"
        ) from None
    allow_insecure = extras.boolean("allow_insecure_http", False)
    base_url = build_base_url(conn, default_url=DEFAULT_REPORT_HOST, allow_insecure_http=allow_insecure)
    report_path = extras.text("report_path") or DEFAULT_REPORT_PATH
    smtp_host = extras.hostname("smtp_host", DEFAULT_SMTP_HOST)
    smtp_port = extras.port("smtp_port", 587)
    smtp_tls = (extras.text("smtp_tls") or ("ssl" if smtp_port == 465 else "starttls")).lower()
    if smtp_tls not in SMTP_TLS_MODES:
        raise MailConfigurationError(
            f"Connection {conn.conn_id!r}: extra 'smtp_tls' must be one of {SMTP_TLS_MODES}"
        )
    if smtp_tls == "none" and not is_loopback(smtp_host) and not extras.boolean("allow_insecure_smtp", False):
        raise MailConfigurationError(
            f"Connection {conn.conn_id!r}: smtp_tls 'none' to {smtp_host} would send the password in clear "
            "text; use 'starttls' (587) or 'ssl' (465), or set allow_insecure_smtp=true if you must"
        )
    report_method = (extras.text("report_method") or "post").lower()
    if report_method not in ("post", "get"):
        raise MailConfigurationError(
            f"Connection {conn.conn_id!r}: extra 'report_method' must be post or get"
        )
    return XmailerConnectionSettings(
        conn_id=conn.conn_id,
        report_url=base_url + "/" + report_path.lstrip("/"),
        username=conn.login or "",
        password=conn.password,
        auth_mode=auth_mode,
        timezone_name=timezone_name,
        report_method=report_method,
        timeout=extras.number("timeout", 60.0, positive=True),
        connect_timeout=extras.number("connect_timeout", 10.0, positive=True),
        verify=extras.verify(),
        retry_policy=RetryPolicy(
            max_retries=extras.integer("max_retries", 3, override=max_retries),
            backoff=extras.number("retry_backoff", 1.0),
            max_wait=extras.number("retry_max_wait", 60.0),
        ),
        smtp_host=smtp_host,
        smtp_port=smtp_port,
        smtp_tls=smtp_tls,
        smtp_ca_file=extras.ca_file("smtp_ca_file"),
        smtp_verify=extras.boolean("smtp_verify", True),
        from_email=extras.text("from_email"),
    )
