"""The bytes a driver moves: one request in, one response out, plus the settings every driver shares.

Pure data: the service cores build :class:`HttpRequest` objects and read :class:`HttpResponse` objects;
the sync and async drivers only carry them over the wire.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from airflow_provider_mail._shared.redact import without_query_strings
from airflow_provider_mail._transport.failures import AttemptFailed, FailureKind
from airflow_provider_mail._transport.tls import TlsSettings
from airflow_provider_mail.exceptions import MailProviderError

#: A stream must deliver this much (or end) within every ``timeout`` window: a server dripping bytes
#: cannot hold a call open forever by keeping each single read under the timeout.
STREAM_PROGRESS_BYTES = 64 * 1024


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request.

    :param method: ``GET`` or ``POST``.
    :param url: the full URL (query parameters go in ``params``).
    :param headers: request headers (secrets travel here, never in client defaults).
    :param content: the raw body, if any.
    :param form: a form body (``application/x-www-form-urlencoded``), if any.
    :param params: query parameters, if any.
    """

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes | None = None
    form: Mapping[str, str] | None = None
    params: Mapping[str, str] | None = None


@dataclass(frozen=True)
class HttpResponse:
    """A complete HTTP response.

    :param status: the status code.
    :param headers: the response headers (case-insensitive mapping from the driver).
    :param body: the whole body.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class DriverSettings:
    """What both drivers of one connection share: timeouts, TLS, and how failures are named.

    :param timeout: seconds one whole call may take once connected (not one socket read).
    :param connect_timeout: seconds to establish the connection.
    :param tls: the resolved TLS settings.
    :param proxy: the proxy URL for the endpoint, if the environment sets one.
    :param transport_error: the service's error for a failed request (e.g. ``Sender25TransportError``).
    :param configuration_error: the service's error for a misconfigured connection.
    :param redact: removes the connection's secrets from a text.
    """

    timeout: float
    connect_timeout: float
    tls: TlsSettings
    transport_error: Callable[..., MailProviderError]
    configuration_error: Callable[..., MailProviderError]
    redact: Callable[[str], str] = str
    proxy: str | None = None

    def failure(self, kind: FailureKind, text: str, *, http_status: int | None = None) -> AttemptFailed:
        """A failed attempt of ``kind``, with the service's named error and no secret in its text.

        :param kind: the failure class.
        :param text: what happened.
        :param http_status: the HTTP status, if a response arrived.
        """
        make = self.configuration_error if kind is FailureKind.CONFIGURATION else self.transport_error
        return AttemptFailed(kind, make(without_query_strings(self.redact(text)), http_status=http_status))

    def tls_failure(self, url: str, err: BaseException) -> AttemptFailed:
        """The failure of a TLS verification: a configuration error naming the fix.

        :param url: the URL being called.
        :param err: the library's exception.
        """
        return self.failure(
            FailureKind.CONFIGURATION,
            f"TLS certificate verification failed for {url}: {err!r}. Nothing was sent. Fix the "
            "connection's `verify` extra (the path of a CA bundle that signs the server's certificate) "
            "or the server's certificate.",
        )


def resolve_proxy(url: str) -> str | None:
    """The proxy the environment sets for ``url`` (``HTTPS_PROXY``/``HTTP_PROXY``, honouring
    ``NO_PROXY``), read once per connection and given to both drivers.

    :param url: the endpoint's URL.
    """
    from urllib.parse import urlsplit
    from urllib.request import getproxies_environment, proxy_bypass_environment  # type: ignore[attr-defined]

    parts = urlsplit(url)
    proxies = getproxies_environment()
    if not proxies or proxy_bypass_environment(parts.hostname or "", proxies):
        return None
    return proxies.get(parts.scheme) or proxies.get("all")
