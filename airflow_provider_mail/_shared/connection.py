"""The connection checks both services share (extras, numbers, ports, hosts, secrets), no I/O: every bad
setting is a :class:`~airflow_provider_mail.exceptions.MailConfigurationError` naming the field,
never a raw ``ValueError``/``OverflowError`` later in a driver, and never echoing a secret.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import re
import ssl
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_mail._shared.addresses import ascii_hostname
from airflow_provider_mail.exceptions import MailConfigurationError, MailValidationError

if TYPE_CHECKING:
    from airflow_provider_mail._compat import Connection

#: The longest duration a number extra may give (timeouts, backoffs): a day.
MAX_SECONDS = 86400.0
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}
#: Whitespace, control characters (C0, DEL, C1) and Unicode line/paragraph separators.
_UNPRINTABLE = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029]")


def build_base_url(conn: Connection, *, default_url: str, allow_insecure_http: bool) -> str:
    """Build the API base URL from ``host`` (a name or a full URL), ``schema`` and ``port``.

    Plain ``http`` is refused for non-loopback hosts unless ``allow_insecure_http`` is set: the API key
    would cross the network in clear text. An IDN host is converted with IDNA 2008; a port must be
    1-65535.

    :param conn: the Airflow connection.
    :param default_url: used when the connection has no host.
    :param allow_insecure_http: the extra that permits plain http to a remote host.
    """
    host = (conn.host or "").strip()
    if _UNPRINTABLE.search(host):
        raise MailConfigurationError(
            f"Connection {conn.conn_id!r}: the host {host!r} contains whitespace or a control character"
        )
    if not host:
        host = default_url
    if "://" not in host:
        host = f"{(conn.schema or 'https').strip().lower()}://{host}"
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MailConfigurationError(
            f"Connection {conn.conn_id!r}: {host!r} is not a usable base URL; use a host name such as "
            "'br-app.sender25.com' or a URL such as 'https://br-app.sender25.com'"
        )
    try:
        url_port = parts.port
    except ValueError:
        raise MailConfigurationError(
            f"Connection {conn.conn_id!r}: the port in the host URL {host!r} is not a number in 1-65535"
        ) from None
    port = url_port if url_port is not None else check_port(conn.port, conn_id=conn.conn_id, field="port")
    hostname = checked_hostname(parts.hostname, conn_id=conn.conn_id, field="host")
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback(hostname):
        raise MailConfigurationError(
            f"Connection {conn.conn_id!r} uses plain http to {hostname}: its secret would travel in "
            "clear text. Use schema 'https', or set the extra allow_insecure_http=true if you must."
        )
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"[{hostname}]" if ":" in hostname else hostname
    netloc = f"{userinfo}@{netloc}" if userinfo else netloc
    netloc = f"{netloc}:{port}" if port else netloc
    return f"{parts.scheme}://{netloc}{parts.path}".rstrip("/")


def check_port(value: Any, *, conn_id: str, field: str, allow_unset: bool = True) -> int | None:
    """Return a TCP port (1-65535); ``None``/``0`` mean unset when ``allow_unset``.

    :param value: the port from the connection.
    :param conn_id: the connection id, for the message.
    :param field: the field's name, for the message.
    :param allow_unset: whether ``None`` and ``0`` mean "the default".
    """
    if allow_unset and value in (None, 0, ""):
        return None
    try:
        port = int(str(value)) if not isinstance(value, bool) else None
    except ValueError:
        port = None
    if port is None or not 1 <= port <= 65535:
        raise MailConfigurationError(
            f"Connection {conn_id!r}: {field} must be a TCP port in 1-65535, got {_shown(value)}"
        )
    return port


def checked_hostname(name: str, *, conn_id: str, field: str) -> str:
    """Return a host name in ASCII (IDNA 2008) or an IP address; refuse anything else by name.

    :param name: the host name or IP address.
    :param conn_id: the connection id, for the message.
    :param field: the field's name, for the message.
    """
    if _UNPRINTABLE.search(name):
        raise MailConfigurationError(
            f"Connection {conn_id!r}: {field} {name!r} contains whitespace or a control character"
        )
    try:
        return str(ipaddress.ip_address(name.strip("[]")))
    except ValueError:
        pass
    try:
        return ascii_hostname(name, argument=field)
    except MailValidationError:
        raise MailConfigurationError(
            f"Connection {conn_id!r}: {field} {name!r} is not a valid host name (IDNA 2008)"
        ) from None


def check_secret(value: str, *, conn_id: str, field: str, what: str, inner_spaces: bool = False) -> None:
    """Refuse a secret with whitespace, control characters or non-ASCII characters, never echoing it.

    Such characters are almost always a copy-paste accident (a trailing newline), and they break
    inside the HTTP or SMTP client with errors that may quote the value.

    :param value: the secret.
    :param conn_id: the connection id, for the message.
    :param field: the connection field holding it (``password``, ``login``).
    :param what: what the secret is, for the message.
    :param inner_spaces: allow spaces between other characters (passwords may have them).
    """
    bad = value != value.strip() or not value.isascii() or not value.isprintable()
    if not inner_spaces:
        bad = bad or " " in value
    if bad:
        raise MailConfigurationError(
            f"Connection {conn_id!r}: the {field} ({what}) contains whitespace, a line break, a control "
            "character or a non-ASCII character (often a trailing newline from a copy-paste); enter it "
            "again. The value is not shown."
        )


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


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
        if not isinstance(extras, dict):
            raise _not_an_object(conn_id, extras)
        self._extras = extras
        self._conn_type = conn_type
        self._conn_id = conn_id

    @classmethod
    def from_connection(cls, conn: Connection, *, conn_type: str) -> ConnectionExtras:
        """Read the extras of ``conn``, refusing ``extra`` that is not a JSON object.

        Airflow's ``extra_dejson`` returns ``{}`` for text that is not JSON (only logging it) and a
        list as it is, so both are checked here on the raw text.

        :param conn: the Airflow connection.
        :param conn_type: the connection type, for legacy keys.
        """
        raw = getattr(conn, "extra", None)
        if isinstance(raw, str) and raw.strip():
            try:
                parsed = json.loads(raw)
            except ValueError:
                raise MailConfigurationError(
                    f"Connection {conn.conn_id!r}: extra is not valid JSON; it must be a JSON object such "
                    'as {"timeout": 30} (the text is not shown, it may hold secrets)'
                ) from None
            if not isinstance(parsed, dict):
                raise _not_an_object(conn.conn_id, parsed)
        return cls(conn.extra_dejson, conn_type=conn_type, conn_id=conn.conn_id)

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

    def number(
        self, name: str, default: float, *, positive: bool = False, override: float | None = None
    ) -> float:
        """A number of seconds, ``>= 0`` (or ``> 0`` when ``positive``: timeouts), at most a day.

        Every number extra is a duration handed to sockets, ``time.sleep`` and the watchdog, which
        overflow far below ``float``'s range (``1e300``): a day bounds any sensible value.

        :param name: the extra's name.
        :param default: used when unset.
        :param positive: refuse zero too.
        :param override: a hook argument that replaces the extra; checked the same way.
        """
        value = override if override is not None else self.raw(name)
        if value is None:
            return default
        try:
            number = float(value) if not isinstance(value, bool) else math.nan
        except (TypeError, ValueError, OverflowError):
            number = math.nan
        if not math.isfinite(number) or number < 0 or (positive and number == 0) or number > MAX_SECONDS:
            lowest = "> 0" if positive else ">= 0"
            raise self._bad(
                name, value, f"a number of seconds {lowest} and <= {MAX_SECONDS:g} (a day)", override
            )
        return number

    def integer(self, name: str, default: int, *, override: int | None = None) -> int:
        """A non-negative integer extra.

        :param name: the extra's name.
        :param default: used when unset.
        :param override: a hook argument that replaces the extra; checked the same way.
        """
        value = override if override is not None else self.raw(name)
        if value is None:
            return default
        try:
            number = int(str(value)) if not isinstance(value, (bool, float)) else -1
        except ValueError:
            number = -1
        if number < 0:
            raise self._bad(name, value, "an integer >= 0", override)
        return number

    def port(self, name: str, default: int) -> int:
        """A TCP port extra (1-65535).

        :param name: the extra's name.
        :param default: used when unset.
        """
        value = self.raw(name)
        if value is None:
            return default
        port = check_port(value, conn_id=self._conn_id, field=f"extra {name!r}", allow_unset=False)
        assert port is not None  # allow_unset=False never returns None
        return port

    def hostname(self, name: str, default: str) -> str:
        """A host name extra, converted to ASCII with IDNA 2008 (or an IP address).

        :param name: the extra's name.
        :param default: used when unset.
        """
        value = self.text(name)
        return checked_hostname(
            default if value is None else value, conn_id=self._conn_id, field=f"extra {name!r}"
        )

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
        """The ``verify`` extra: a boolean, or the path of a CA bundle (checked here: it must load)."""
        value = self.raw("verify")
        if value is None or isinstance(value, bool):
            return True if value is None else value
        text = str(value).strip()
        if text.lower() in _TRUE | _FALSE:
            return self.boolean("verify", True)
        return self.ca_bundle("verify", text)

    def ca_file(self, name: str) -> str | None:
        """An optional CA bundle path extra (checked like :meth:`ca_bundle`).

        :param name: the extra's name.
        """
        path = self.text(name)
        return None if path is None else self.ca_bundle(name, path.strip())

    def ca_bundle(self, name: str, path: str) -> str:
        """A CA bundle path (file or ``c_rehash`` directory) that exists and loads.

        Checked when the connection is read, so the sync and async paths fail alike, before any
        network call, with a named error instead of ``FileNotFoundError`` or ``ssl.SSLError``.

        :param name: the extra's name.
        :param path: its value.
        """
        expected = "true, false or the path of a CA bundle (PEM file or directory) that exists"
        if not os.path.exists(path):
            raise self._bad(name, path, expected)
        try:
            if os.path.isdir(path):
                ssl.create_default_context(capath=path)
            else:
                ssl.create_default_context(cafile=path)
        except (OSError, ValueError, ssl.SSLError) as err:
            raise self._bad(
                name, path, f"{expected}; it could not be loaded ({type(err).__name__})"
            ) from None
        return path

    def _bad(self, name: str, value: Any, expected: str, override: Any = None) -> MailConfigurationError:
        where = f"the hook argument `{name}`" if override is not None else f"extra {name!r}"
        return MailConfigurationError(
            f"Connection {self._conn_id!r}: {where} must be {expected}, got {_shown(value)}"
        )


def _not_an_object(conn_id: str, value: Any) -> MailConfigurationError:
    return MailConfigurationError(
        f'Connection {conn_id!r}: extra must be a JSON object such as {{"timeout": 30}}, got a JSON '
        f"{type(value).__name__} (the value is not shown, it may hold secrets)"
    )
