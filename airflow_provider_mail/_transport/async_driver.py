"""The async driver: moves :class:`HttpRequest` bytes over httpx and nothing else (triggers, notifiers).

It maps httpx's exceptions into the same three failure classes as the sync driver, with the same
whole-call deadline and TLS settings. One ``httpx.AsyncClient`` per event loop and settings serves
every connection: the triggerer runs thousands of triggers in one loop, and secrets travel as
per-request headers, never as client defaults.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from airflow_provider_mail._transport.failures import (
    AttemptFailed,
    FailureKind,
    is_tls_verification_failure,
    retold,
)
from airflow_provider_mail._transport.http import (
    STREAM_PROGRESS_BYTES,
    DriverSettings,
    HttpRequest,
    HttpResponse,
)
from airflow_provider_mail._transport.tls import TlsSettings

MAX_CONNECTIONS = 8
_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, httpx.AsyncClient]] = (
    weakref.WeakKeyDictionary()
)
_SLOTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def request_slots() -> asyncio.Semaphore:
    """The running loop's limit on requests in flight (the pool's size).

    httpcore rescans its whole wait queue whenever a connection frees up, so thousands of queued
    requests cost quadratic CPU; waiting here instead keeps its queue short (measured: 5 ms -> well
    under 1 ms of CPU per request with 1,000 triggers).
    """
    loop = asyncio.get_running_loop()
    slots = _SLOTS.get(loop)
    if slots is None:
        slots = _SLOTS[loop] = asyncio.Semaphore(MAX_CONNECTIONS)
    return slots


def shared_async_client(
    tls: TlsSettings, *, timeout: float, connect_timeout: float, proxy: str | None = None
) -> httpx.AsyncClient:
    """The running loop's client for these settings (created on first use, reused afterwards).

    :param tls: the resolved TLS settings.
    :param proxy: the proxy URL, if any.
    :param timeout: read timeout in seconds.
    :param connect_timeout: connect timeout in seconds.
    """
    per_loop = _CLIENTS.setdefault(asyncio.get_running_loop(), {})
    key = (tls, timeout, connect_timeout, proxy)
    client = per_loop.get(key)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            verify=tls.ssl_context(),
            trust_env=False,
            proxy=proxy,
            follow_redirects=False,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS),
        )
        per_loop[key] = client
    return client


class AsyncHttpDriver:
    """Send requests over the loop's shared client; every failure comes out as :class:`AttemptFailed`.

    :param settings: the driver settings.
    """

    def __init__(self, settings: DriverSettings) -> None:
        self.settings = settings

    @property
    def deadline(self) -> float:
        """Seconds one whole call may take."""
        return self.settings.connect_timeout + self.settings.timeout

    def _client(self) -> httpx.AsyncClient:
        settings = self.settings
        return shared_async_client(
            settings.tls,
            timeout=settings.timeout,
            connect_timeout=settings.connect_timeout,
            proxy=settings.proxy,
        )

    async def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request`` and read the whole answer within the deadline.

        :param request: the request.
        """
        async with request_slots():
            try:
                response = await asyncio.wait_for(
                    self._client().request(**_arguments(request)), timeout=self.deadline
                )
            except Exception as err:
                raise self._failure(request, err) from retold(err, self.settings.redact)
        return HttpResponse(response.status_code, response.headers, response.content)

    @asynccontextmanager
    async def stream(self, request: HttpRequest) -> AsyncIterator[AsyncStream]:
        """Open ``request`` and hand out its body as it arrives.

        :param request: the request.
        """
        async with request_slots():
            opened = self._client().stream(**_arguments(request))
            try:
                response = await asyncio.wait_for(opened.__aenter__(), timeout=self.deadline)
            except Exception as err:
                raise self._failure(request, err) from retold(err, self.settings.redact)
            try:
                yield AsyncStream(self, request, response)
            finally:
                await opened.__aexit__(None, None, None)

    def _failure(self, request: HttpRequest, err: Exception) -> AttemptFailed:
        where = request.url.split("?", 1)[0]
        settings = self.settings
        if isinstance(err, asyncio.TimeoutError):
            return settings.failure(
                FailureKind.MAYBE_SENT, f"no complete answer from {where} within {self.deadline:g} s"
            )
        if is_tls_verification_failure(err):
            return settings.tls_failure(where, err)
        if isinstance(err, (httpx.ConnectTimeout, httpx.PoolTimeout)):
            return settings.failure(FailureKind.NEVER_SENT, f"connect timeout to {where}: {err!r}")
        if isinstance(err, httpx.ConnectError):
            return settings.failure(FailureKind.NEVER_SENT, f"could not connect to {where}: {err!r}")
        if isinstance(err, httpx.TimeoutException):
            return settings.failure(
                FailureKind.MAYBE_SENT, f"read timeout after {settings.timeout:g} s on {where}: {err!r}"
            )
        if isinstance(err, httpx.TransportError) and not isinstance(err, httpx.UnsupportedProtocol):
            return settings.failure(FailureKind.MAYBE_SENT, f"connection broken on {where}: {err!r}")
        if isinstance(err, (httpx.HTTPError, httpx.InvalidURL)):
            return settings.failure(FailureKind.CONFIGURATION, f"request to {where} impossible: {err!r}")
        raise err


class AsyncStream:
    """An open response whose body is read chunk by chunk.

    :param driver: the driver (settings).
    :param request: the request, for messages.
    :param response: the open response.
    """

    def __init__(self, driver: AsyncHttpDriver, request: HttpRequest, response: httpx.Response) -> None:
        self._driver = driver
        self._request = request
        self._response = response
        self.status = response.status_code
        self.headers = response.headers

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body in chunks; each ``timeout`` window must bring a full chunk or the end."""
        iterator = self._response.aiter_bytes(STREAM_PROGRESS_BYTES).__aiter__()
        while True:
            try:
                chunk = await asyncio.wait_for(iterator.__anext__(), timeout=self._driver.settings.timeout)
            except StopAsyncIteration:
                return
            except Exception as err:
                raise self._driver._failure(self._request, err) from retold(err, self._driver.settings.redact)
            yield chunk


def _arguments(request: HttpRequest) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "method": request.method,
        "url": request.url,
        "headers": dict(request.headers),
    }
    if request.content is not None:
        arguments["content"] = request.content
    elif request.form is not None:
        arguments["data"] = dict(request.form)
    if request.params is not None:
        arguments["params"] = dict(request.params)
    return arguments
