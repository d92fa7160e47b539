"""A threaded loopback HTTP/1.1 server that hosts one emulated service.

It owns everything that is not the service itself, so every emulator (Sender25, the xmailer
report endpoint) gets the same behaviour for free:

* HTTP/1.1 with keep-alive; every response carries ``Content-Length`` except a streamed one,
  which is sent chunked (:mod:`._transport`); any method is passed on;
* a request log (:class:`RequestRecord`), thread-safe, JSON-able;
* fault injection (:mod:`._faults`) applied in front of or behind the application;
* standing network conditions (:mod:`._network`): latency per request and a token-bucket rate
  limit answering 429 with ``Retry-After``;
* an admin interface under ``/_emulator/`` that is never logged, charged or faulted, so tests
  and demos can drive an emulator that runs in another process.

The service plugs in through the small :class:`Application` protocol.
"""

from __future__ import annotations

import contextlib
import json
import logging
import selectors
import socket
import threading
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any, Protocol

from ._clock import EmulatorClock
from ._faults import DEFAULT_SLOW_DELAY, Fault, FaultPlan, FaultQueue, degraded_response, front_response
from ._http import AppOutcome, HttpRequest, HttpResponse
from ._network import NetworkConditions, NetworkSettings
from ._pages import nginx_page
from ._transport import query_keys, read_body, reset_connection, split_target, write_response

log = logging.getLogger(__name__)

ADMIN_PREFIX = "/_emulator/"
_IDLE_KEEPALIVE_SECONDS = 60


class Application(Protocol):
    """What an emulated service provides to :class:`EmulatorServer`."""

    def handle(self, request: HttpRequest) -> AppOutcome:
        """Process one API request (never an admin request)."""
        ...

    def handle_admin(self, request: HttpRequest, route: str) -> HttpResponse | None:
        """Serve a service-specific admin route (``route`` is the path after the prefix).

        Return ``None`` for a route the service does not know.
        """
        ...

    def reset(self) -> None:
        """Forget all state (stored data, settings changed at runtime stay)."""
        ...

    def describe(self) -> dict[str, Any]:
        """A few facts for ``GET /_emulator/health`` (service name, flavour…)."""
        ...


@dataclass(frozen=True)
class RequestRecord:
    """One API request as the emulator saw and answered it (never holds credentials).

    :param method: request method.
    :param path: request path without the query string.
    :param params: the parsed parameter hash the application acted on, or ``None``.
    :param api_key_valid: ``True``/``False`` once a presented key was checked, else ``None``.
    :param content_type: the request's ``Content-Type``.
    :param fault: the injected fault's name, or ``None``.
    :param reached_app: whether the application processed the request.
    :param http_status: the status sent, ``None`` when the connection was reset instead.
    :param api_status: the envelope ``status`` word the client received, ``None`` if the body it
        received was no intact envelope (faults that replace or cut the body clear it).
    :param error_code: ``data.code`` of the error envelope the client received, or ``None``.
    :param stored_message_ids: ids of messages the request stored (even if the client never
        learned about them).
    :param timestamp: emulator-clock time the request arrived.
    :param query_keys: names of the parameters sent in the URL's query string, in order, never
        their values (so a test can tell that a secret travelled in the body, not the URL).
    :param latency: seconds the injected latency held this request back.
    :param rate_limited: the rate limit refused the request (HTTP 429, app not reached).
    :param answered: emulator-clock time the answer was ready to go out (after any latency or
        SLOW delay), ``None`` when the connection was reset instead; with :attr:`timestamp` it
        tells which requests were in flight at the same time.
    """

    method: str
    path: str
    params: Any
    api_key_valid: bool | None
    content_type: str | None
    fault: str | None
    reached_app: bool
    http_status: int | None
    api_status: str | None
    error_code: str | None
    stored_message_ids: list[int]
    timestamp: float
    query_keys: list[str] = field(default_factory=list)
    latency: float = 0.0
    rate_limited: bool = False
    answered: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the record as a JSON-compatible dict."""
        return asdict(self)


class EmulatorServer:
    """Serve an :class:`Application` on a loopback port, with request log and faults.

    :param app: the emulated service.
    :param clock: the emulator clock (request timestamps; ``/_emulator/advance``).
    :param host: interface to bind; keep it on loopback.
    :param port: TCP port, ``0`` to let the OS pick a free one.
    :param network: the initial latency and rate limit (default: none).
    """

    def __init__(
        self,
        app: Application,
        clock: EmulatorClock,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        network: NetworkSettings | None = None,
    ):
        self.app = app
        self.clock = clock
        self.host = host
        self.port = port
        self.faults = FaultQueue()
        self.network = NetworkConditions(network)
        self._log: list[RequestRecord] = []
        self._log_lock = threading.Lock()
        self._httpd: _ThreadingServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wake_writer: socket.socket | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the server is accepting connections."""
        return self._httpd is not None

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` of the running server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Bind and serve in a daemon thread; a no-op if already running.

        After the first start :attr:`port` holds the bound port, so a restart reuses it.
        """
        if self._httpd is not None:
            return
        self._stopping.clear()
        httpd = _ThreadingServer((self.host, self.port), self)
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._thread = threading.Thread(
            target=self._accept_loop,
            args=(httpd, self._wake_reader),
            name=f"emulator:{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, drop open keep-alive connections and release the port."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        if self._wake_writer is not None:
            self._wake_writer.send(b"x")
            self._wake_writer.close()
            self._wake_writer = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        httpd.close_open_connections()
        httpd.server_close()

    @staticmethod
    def _accept_loop(httpd: _ThreadingServer, wake_reader: socket.socket) -> None:
        # socketserver's serve_forever() polls for shutdown every poll_interval, so stopping costs
        # up to that long; waiting on the listening socket *and* a wake-up socket stops at once.
        with selectors.DefaultSelector() as selector:
            selector.register(httpd.socket, selectors.EVENT_READ)
            selector.register(wake_reader, selectors.EVENT_READ)
            while True:
                ready = selector.select()
                if any(key.fileobj is wake_reader for key, _ in ready):
                    wake_reader.close()
                    return
                httpd.handle_request()  # accept one connection, serve it on a new thread

    # -- log, faults, reset ----------------------------------------------------------------

    def inject(self, fault: Fault | str, count: int = 1, **options: Any) -> FaultPlan:
        """Queue a fault for the next ``count`` API requests (see :class:`Fault`).

        :param fault: a :class:`Fault` or its name.
        :param count: number of consecutive requests it hits.
        :param options: fault options (``retry_after``, ``delay``, ``location``, ``details``).
        """
        return self.faults.push(fault, count, **options)

    def requests(self) -> list[RequestRecord]:
        """A snapshot of the request log, oldest first."""
        with self._log_lock:
            return list(self._log)

    def reset(self) -> None:
        """Clear the request log, queued faults, clock offset and the application's state;
        refill the rate-limit bucket (the network settings stay)."""
        with self._log_lock:
            self._log.clear()
        self.faults.clear()
        self.network.refill()
        self.clock.reset()
        self.app.reset()

    def _record(self, record: RequestRecord) -> None:
        with self._log_lock:
            self._log.append(record)

    # -- request handling (called on the connection's thread) ------------------------------

    def serve(self, handler: _RequestHandler) -> None:
        """Answer one request read by ``handler``; the entry point of every method."""
        path, query = split_target(handler.path)
        head_only = handler.command == "HEAD"
        if path.startswith(ADMIN_PREFIX):
            request = self._read_request(handler, path, query)
            if request is not None:
                write_response(handler, self._admin(request, path[len(ADMIN_PREFIX) :]), head_only)
            return

        arrived = self.clock.now()
        # Latency first, on this connection's own thread: other connections keep being served.
        delay = self.network.delay()
        if delay:
            self._stopping.wait(delay)
        base: dict[str, Any] = {
            "method": handler.command,
            "path": path,
            "content_type": handler.headers.get("Content-Type"),
            "fault": None,
            "timestamp": arrived,
            "query_keys": query_keys(query),
            "latency": round(delay, 6),
        }
        retry_after = self.network.admit(self.clock.now())
        if retry_after is not None:
            # The front proxy refuses it: no fault is consumed, the app never sees it.
            request = self._read_request(handler, path, query)
            if request is None:
                return
            response = nginx_page(429, extra_headers=(("Retry-After", str(retry_after)),))
            base["rate_limited"] = True
            self._record(_record(base, reached_app=False, http_status=429, answered=self.clock.now()))
            write_response(handler, response, head_only)
            return
        plan = self.faults.take()
        base["fault"] = plan.fault.name if plan else None
        if plan is not None and plan.fault is Fault.RESET_BEFORE_BODY:
            self._record(_record(base, reached_app=False, http_status=None))
            reset_connection(handler)
            return
        request = self._read_request(handler, path, query)
        if request is None:
            return
        if plan is not None and not plan.fault.reaches_app:
            response = front_response(plan, request)
            self._record(
                _record(base, reached_app=False, http_status=response.status, answered=self.clock.now())
            )
            write_response(handler, response, head_only)
            return

        outcome = self._run_app(request)
        if plan is not None and plan.fault is Fault.RESET_AFTER_BODY:
            self._record(_record(base, outcome=outcome, reached_app=True, http_status=None, envelope=False))
            reset_connection(handler)
            return
        response = outcome.response
        intact = plan is None or plan.fault is Fault.SLOW
        if not intact and plan is not None:
            response = degraded_response(plan, response)
        slow = (
            float(plan.options.get("delay", DEFAULT_SLOW_DELAY)) if plan and plan.fault is Fault.SLOW else 0.0
        )
        # Logged before the SLOW wait, so a client that timed out already finds its request.
        self._record(
            _record(
                base,
                outcome=outcome,
                reached_app=True,
                http_status=response.status,
                envelope=intact,
                answered=self.clock.now() + slow,
            )
        )
        if slow:
            # The app has finished (its effects are visible); only the answer is late.
            self._stopping.wait(slow)
        write_response(handler, response, head_only)

    def _run_app(self, request: HttpRequest) -> AppOutcome:
        try:
            return self.app.handle(request)
        except Exception:
            # A bug in the emulator itself: say so loudly instead of imitating the service.
            log.exception("emulated service crashed on %s %s", request.method, request.path)
            body = b"emulator bug: the emulated service raised; see the emulator's log"
            return AppOutcome(HttpResponse(500, (("Content-Type", "text/plain; charset=utf-8"),), body))

    def _read_request(self, handler: _RequestHandler, path: str, query: str) -> HttpRequest | None:
        try:
            body = read_body(handler)
        except ValueError as exc:
            handler.close_connection = True
            write_response(
                handler, HttpResponse(400, (("Content-Type", "text/plain"),), str(exc).encode(), True), False
            )
            return None
        client = handler.client_address[0] if handler.client_address else "127.0.0.1"
        return HttpRequest(handler.command, path, query, tuple(handler.headers.items()), body, str(client))

    # -- admin interface -------------------------------------------------------------------

    def _admin(self, request: HttpRequest, route: str) -> HttpResponse:
        try:
            generic = self._generic_admin(request, route)
            if generic is not None:
                return generic
            specific = self.app.handle_admin(request, route)
        except (ValueError, KeyError, TypeError) as exc:
            return HttpResponse.json(400, {"error": str(exc)})
        if specific is None:
            return HttpResponse.json(
                404, {"error": f"unknown admin endpoint {request.method} /_emulator/{route}"}
            )
        return specific

    def _generic_admin(self, request: HttpRequest, route: str) -> HttpResponse | None:
        endpoint = (request.method, route.strip("/"))
        if endpoint == ("GET", "health"):
            facts = {"status": "ok", "base_url": self.base_url, "now": self.clock.now()}
            facts["clock_offset"] = self.clock.offset
            facts["network"] = self.network.settings.as_dict()
            return HttpResponse.json(200, {**facts, **self.app.describe()})
        if endpoint == ("GET", "requests"):
            return HttpResponse.json(200, [record.as_dict() for record in self.requests()])
        if endpoint == ("GET", "faults"):
            pending = [{"fault": fault.name, "count": count} for fault, count in self.faults.pending()]
            return HttpResponse.json(200, pending)
        if endpoint == ("POST", "faults"):
            spec = admin_json(request)
            fault = spec.pop("fault")
            count = int(spec.pop("count", 1))
            plan = self.inject(fault, count, **spec)
            return HttpResponse.json(
                200, {"fault": plan.fault.name, "count": count, "options": dict(plan.options)}
            )
        if endpoint == ("POST", "time"):
            epoch = float(admin_json(request)["epoch"])
            return HttpResponse.json(
                200, {"now": self.clock.set_time(epoch), "clock_offset": self.clock.offset}
            )
        if endpoint == ("POST", "advance"):
            seconds = float(admin_json(request).get("seconds", 0))
            return HttpResponse.json(
                200, {"now": self.clock.advance(seconds), "clock_offset": self.clock.offset}
            )
        if endpoint == ("GET", "network"):
            return HttpResponse.json(200, self.network.settings.as_dict())
        if endpoint == ("POST", "network"):
            return HttpResponse.json(200, self.network.configure(admin_json(request)).as_dict())
        if endpoint == ("POST", "reset"):
            self.reset()
            return HttpResponse.json(200, {"status": "ok"})
        return None


def admin_json(request: HttpRequest) -> dict[str, Any]:
    """Parse an admin request's JSON object body (empty body = ``{}``).

    :param request: the admin request.
    :raises ValueError: if the body is not a JSON object.
    """
    if not request.body.strip():
        return {}
    value = json.loads(request.body)
    if not isinstance(value, dict):
        raise ValueError("the admin request body must be a JSON object")
    return value


def _record(
    base: dict[str, Any],
    *,
    reached_app: bool,
    http_status: int | None,
    outcome: AppOutcome | None = None,
    envelope: bool = True,
    answered: float | None = None,
) -> RequestRecord:
    delivered = outcome is not None and envelope
    return RequestRecord(
        params=outcome.params if outcome else None,
        api_key_valid=outcome.api_key_valid if outcome else None,
        reached_app=reached_app,
        http_status=http_status,
        api_status=outcome.api_status if delivered and outcome else None,
        error_code=outcome.error_code if delivered and outcome else None,
        stored_message_ids=list(outcome.stored_message_ids) if outcome else [],
        answered=answered,
        **base,
    )


class _RequestHandler(BaseHTTPRequestHandler):
    """Hands every request, whatever its method, to :meth:`EmulatorServer.serve`."""

    protocol_version = "HTTP/1.1"
    server_version = "emulator"
    sys_version = ""
    timeout = _IDLE_KEEPALIVE_SECONDS
    # Headers and body go out in separate writes; with Nagle on, a keep-alive client's delayed ACK
    # stalls every response by ~40 ms. Real servers set TCP_NODELAY too.
    disable_nagle_algorithm = True
    server: _ThreadingServer

    def __getattr__(self, name: str) -> Any:
        # http.server looks up do_<METHOD>; an emulated service must see every method (Moonrope
        # accepts any, Rails answers unknown ones with its 404 page), so all map to one place.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def _dispatch(self) -> None:
        self.server.owner.serve(self)

    def version_string(self) -> str:
        """The ``Server`` header: no Python version in it."""
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the request log is the record."""


class _ThreadingServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its open connections, so stop() can drop idle keep-alives."""

    daemon_threads = True
    block_on_close = False
    # socketserver's default backlog of 5 drops SYNs when many clients connect at once, and a
    # dropped SYN costs the client a 1 s retransmit: a burst of concurrent requests (latency
    # tests, parallel Airflow tasks) must all be accepted right away.
    request_queue_size = 128
    timeout = 1.0  # handle_request() gives up if a ready connection vanished before accept()

    def __init__(self, address: tuple[str, int], owner: EmulatorServer):
        self.owner = owner
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _RequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall on a reverse DNS query.
        TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
