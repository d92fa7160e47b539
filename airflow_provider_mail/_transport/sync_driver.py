"""The sync driver: moves :class:`HttpRequest` bytes over a ``requests.Session`` and nothing else.

It maps requests' and urllib3's exceptions into the three failure classes of
:mod:`~airflow_provider_mail._transport.failures`; whether to retry is decided elsewhere. The whole
call (not each socket read) is bounded by the connection's timeout, through the watchdog.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from airflow_provider_mail._transport.failures import (
    AttemptFailed,
    FailureKind,
    is_tls_verification_failure,
    retold,
    wrapped_errors,
)
from airflow_provider_mail._transport.http import (
    STREAM_PROGRESS_BYTES,
    DriverSettings,
    HttpRequest,
    HttpResponse,
)
from airflow_provider_mail._transport.watchdog import WATCHDOG, CallGuard, register_connection

if TYPE_CHECKING:
    import requests

POOL_SIZE = 8


def new_session(settings: DriverSettings, *, headers: dict[str, str] | None = None) -> requests.Session:
    """A pooled keep-alive session for these settings, with deadline-aware connections.

    Proxy and CA-bundle variables are read once here: requests otherwise re-scans the whole
    environment on every request (a fifth of a send's time in the benchmark).

    :param settings: the driver settings (TLS).
    :param headers: default headers (never secrets shared between connections).
    """
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    session.trust_env = False
    session.verify = settings.tls.requests_verify
    session.headers.update(headers or {})
    if settings.proxy:
        session.proxies = {"http": settings.proxy, "https": settings.proxy}
    adapter = HTTPAdapter(pool_connections=POOL_SIZE, pool_maxsize=POOL_SIZE, max_retries=0)
    adapter.poolmanager.pool_classes_by_scheme = dict(_guarded_pool_classes())
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class SyncHttpDriver:
    """Send requests over one session; every failure comes out as :class:`AttemptFailed`.

    :param session: the pooled session (from :func:`new_session`).
    :param settings: the driver settings.
    """

    def __init__(self, session: requests.Session, settings: DriverSettings) -> None:
        self.session = session
        self.settings = settings

    @property
    def deadline(self) -> float:
        """Seconds one whole call may take."""
        return self.settings.connect_timeout + self.settings.timeout

    def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request`` and read the whole answer within the deadline.

        :param request: the request.
        """
        with CallGuard() as guard:
            alarm = WATCHDOG.arm(self.deadline, guard.abort)
            response = None
            try:
                response = self._open(request)
                body = response.content
            except Exception as err:
                raise self._failure(request, err, guard) from retold(err, self.settings.redact)
            finally:
                alarm.cancel()
                guard.settle()
                if response is not None:
                    response.close()  # back to the pool, once no alarm can touch it
        return HttpResponse(response.status_code, response.headers, body)

    @contextmanager
    def stream(self, request: HttpRequest) -> Iterator[SyncStream]:
        """Open ``request`` and hand out its body as it arrives (for reports of any size).

        :param request: the request.
        """
        guard = CallGuard()
        with guard:
            alarm = WATCHDOG.arm(self.deadline, guard.abort)
            try:
                response = self._open(request)
            except Exception as err:
                raise self._failure(request, err, guard) from retold(err, self.settings.redact)
            finally:
                alarm.cancel()
        try:
            yield SyncStream(self, request, response, guard)
        finally:
            response.close()

    def _open(self, request: HttpRequest) -> requests.Response:
        return self.session.request(
            request.method,
            request.url,
            headers=dict(request.headers),
            data=request.content if request.content is not None else request.form,
            params=request.params,
            timeout=(self.settings.connect_timeout, self.settings.timeout),
            allow_redirects=False,
            stream=True,
        )

    def _failure(self, request: HttpRequest, err: Exception, guard: CallGuard) -> AttemptFailed:
        import requests
        from urllib3.exceptions import NameResolutionError, NewConnectionError

        where = _shown_url(request)
        if guard.aborted:
            return self.settings.failure(
                FailureKind.MAYBE_SENT, f"no complete answer from {where} within {self.deadline:g} s"
            )
        if is_tls_verification_failure(err):
            return self.settings.tls_failure(where, err)
        if isinstance(err, requests.exceptions.ConnectTimeout):
            return self.settings.failure(FailureKind.NEVER_SENT, f"connect timeout to {where}: {err}")
        if isinstance(err, requests.exceptions.ConnectionError) and (
            guard.connection is None  # failed in the TCP or TLS handshake: no byte of the request written
            or any(isinstance(e, (NewConnectionError, NameResolutionError)) for e in wrapped_errors(err))
        ):
            return self.settings.failure(FailureKind.NEVER_SENT, f"could not connect to {where}: {err}")
        if isinstance(err, requests.exceptions.Timeout):
            return self.settings.failure(
                FailureKind.MAYBE_SENT, f"read timeout after {self.settings.timeout:g} s on {where}: {err}"
            )
        if isinstance(err, (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)):
            return self.settings.failure(FailureKind.MAYBE_SENT, f"connection broken on {where}: {err}")
        if isinstance(err, requests.exceptions.RequestException):
            return self.settings.failure(FailureKind.CONFIGURATION, f"request to {where} impossible: {err}")
        raise err


class SyncStream:
    """An open response whose body is read chunk by chunk.

    :param driver: the driver (settings, deadline).
    :param request: the request, for messages.
    :param response: the open response.
    :param guard: the call's guard (re-armed for each window of progress).
    """

    def __init__(self, driver: SyncHttpDriver, request: HttpRequest, response: Any, guard: CallGuard) -> None:
        self._driver = driver
        self._request = request
        self._response = response
        self._guard = guard
        self.status: int = response.status_code
        self.headers: Any = response.headers

    def chunks(self) -> Iterator[bytes]:
        """The body in chunks; each ``timeout`` window must bring a full chunk or the end."""
        settings = self._driver.settings
        iterator = self._response.iter_content(STREAM_PROGRESS_BYTES)
        while True:
            with self._guard:
                alarm = WATCHDOG.arm(settings.timeout, self._guard.abort)
                try:
                    chunk = next(iterator, None)
                except Exception as err:
                    raise self._driver._failure(self._request, err, self._guard) from retold(
                        err, self._driver.settings.redact
                    )
                finally:
                    alarm.cancel()
            if chunk is None:
                return
            yield chunk


def _shown_url(request: HttpRequest) -> str:
    # the query string may hold credentials (GET reports): never shown
    return request.url.split("?", 1)[0]


@lru_cache(maxsize=1)
def _guarded_pool_classes() -> dict[str, type]:
    """urllib3 pools whose connections register with the current call's guard as they send."""
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class GuardedHTTPConnection(HTTPConnection):
        def request(self, *args: Any, **kwargs: Any) -> None:
            register_connection(self)
            super().request(*args, **kwargs)

    class GuardedHTTPSConnection(HTTPSConnection):
        def request(self, *args: Any, **kwargs: Any) -> None:
            register_connection(self)
            super().request(*args, **kwargs)

    class GuardedHTTPConnectionPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    return {"http": GuardedHTTPConnectionPool, "https": GuardedHTTPSConnectionPool}
