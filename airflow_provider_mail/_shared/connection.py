"""Read an Airflow connection of type ``sender25`` into validated, typed settings (no I/O)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_mail._transport.retry import RetryPolicy
from airflow_provider_mail.exceptions import MailConfigurationError

if TYPE_CHECKING:
    from airflow_provider_mail._compat import Connection

DEFAULT_SENDER25_URL = "https://br-app.sender25.com"
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


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
    extras = ConnectionExtras(conn.extra_dejson, conn_type="sender25", conn_id=conn.conn_id)
    if not conn.password:
        raise MailConfigurationError(
            f"Connection {conn.conn_id!r} has no API key: put the Sender25 server API key in the password"
        )
    policy = RetryPolicy(
        max_retries=max_retries if max_retries is not None else extras.integer("max_retries", 3),
        backoff=retry_backoff if retry_backoff is not None else extras.number("retry_backoff", 1.0),
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
        timeout=timeout if timeout is not None else extras.number("timeout", 30.0),
        connect_timeout=extras.number("connect_timeout", 10.0),
        verify=extras.verify(),
        retry_policy=policy,
        from_email=extras.text("from_email"),
    )


def build_base_url(conn: Connection, *, default_url: str, allow_insecure_http: bool) -> str:
    """Build the API base URL from ``host`` (a name or a full URL), ``schema`` and ``port``.

    Plain ``http`` is refused for non-loopback hosts unless ``allow_insecure_http`` is set: the API key
    would cross the network in clear text.

    :param conn: the Airflow connection.
    :param default_url: used when the connection has no host.
    :param allow_insecure_http: the extra that permits plain http to a remote host.
    """
    host = (conn.host or "").strip()
    if not host:
        host = default_url
    if "://" not in host:
        scheme = (conn.schema or "https").strip().lower()
        port = f":{conn.port}" if conn.port else ""
        host = f"{scheme}://{host}{port}"
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MailConfigurationError(
            f"Connection {conn.conn_id!r}: {host!r} is not a usable base URL; use a host name such as "
            "'br-app.sender25.com' or a URL such as 'https://br-app.sender25.com'"
        )
    if parts.port is None and conn.port and "://" in (conn.host or ""):
        host = f"{parts.scheme}://{parts.netloc}:{conn.port}{parts.path}"
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback(parts.hostname):
        raise MailConfigurationError(
            f"Connection {conn.conn_id!r} uses plain http to {parts.hostname}: its secret would travel in "
            "clear text. Use schema 'https', or set the extra allow_insecure_http=true if you must."
        )
    return host.rstrip("/")


def is_loopback(hostname: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1).

    :param hostname: a host name or IP address.
    """
    if hostname.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


class ConnectionExtras:
    """Typed access to a connection's extras, also reading the legacy ``extra__<type>__<name>`` keys.

    :param extras: the connection's ``extra_dejson``.
    :param conn_type: the connection type, for legacy keys.
    :param conn_id: the connection id, for error messages.
    """

    def __init__(self, extras: dict[str, Any], *, conn_type: str, conn_id: str) -> None:
        self._extras = extras
        self._conn_type = conn_type
        self._conn_id = conn_id

    def raw(self, name: str) -> Any:
        """The value of extra ``name`` (or its legacy prefixed key); ``None`` or ``""`` mean unset.

        :param name: the extra's name.
        """
        value = self._extras.get(name)
        if value in (None, ""):
            value = self._extras.get(f"extra__{self._conn_type}__{name}")
        return None if value in (None, "") else value

    def text(self, name: str) -> str | None:
        """A string extra.

        :param name: the extra's name.
        """
        value = self.raw(name)
        return None if value is None else str(value)

    def number(self, name: str, default: float) -> float:
        """A non-negative number extra.

        :param name: the extra's name.
        :param default: used when unset.
        """
        value = self.raw(name)
        try:
            number = default if value is None else float(value)
        except (TypeError, ValueError):
            raise self._bad(name, value, "a number") from None
        if number < 0:
            raise self._bad(name, value, "a number >= 0")
        return number

    def integer(self, name: str, default: int) -> int:
        """A non-negative integer extra.

        :param name: the extra's name.
        :param default: used when unset.
        """
        value = self.raw(name)
        try:
            number = default if value is None else int(str(value))
        except ValueError:
            raise self._bad(name, value, "an integer") from None
        if number < 0:
            raise self._bad(name, value, "an integer >= 0")
        return number

    def boolean(self, name: str, default: bool) -> bool:
        """A boolean extra (true/false, 1/0, yes/no).

        :param name: the extra's name.
        :param default: used when unset.
        """
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise self._bad(name, value, "true or false")

    def verify(self) -> bool | str:
        """The ``verify`` extra: a boolean, or the path of a CA bundle."""
        value = self.raw("verify")
        if value is None or isinstance(value, bool):
            return True if value is None else value
        text = str(value).strip()
        return self.boolean("verify", True) if text.lower() in _TRUE | _FALSE else text

    def _bad(self, name: str, value: Any, expected: str) -> MailConfigurationError:
        return MailConfigurationError(
            f"Connection {self._conn_id!r}: extra {name!r} must be {expected}, got {value!r}"
        )
