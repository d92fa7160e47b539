"""Fault injection: the ways a request can go wrong between the client and the service.

A fault is queued with :meth:`FaultQueue.push` and consumed by the next requests to the emulated
API (admin requests are never faulted). Each fault says whether the request still **reaches the
application** — the fact that matters most to a client deciding whether a retry could send an
e-mail twice.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from ._http import HTML_UTF8, HttpRequest, HttpResponse
from ._pages import MAINTENANCE_HTML, RAILS_500_HTML, moonrope_body, nginx_page, rails_json_500


class Fault(str, Enum):
    """A failure to inject into the next request(s); the value is the member's name.

    Where each fault comes from, and whether the application processed the request
    (``reached_app`` in the request log):

    ======================== ======================================================= ===========
    fault                    what the client gets                                    reaches app
    ======================== ======================================================= ===========
    HTTP_500_HTML            Rails' "We're sorry, but something went wrong" page      yes
    HTTP_500_JSON_RAILS      ``{"status":500,"error":"Internal Server Error"}``       yes
    HTTP_500_JSON_MOONROPE   ``{"status":"internal-server-error"}`` (+ CORS headers)  yes
    HTTP_502                 proxy page: the app could not be reached                 no
    HTTP_503                 proxy page: maintenance / overload, request refused      no
    HTTP_504                 proxy page: it gave up waiting for the app, which did    yes
                             finish the request (a send **was** stored)
    HTTP_429                 proxy rate-limit page; option ``retry_after`` (seconds)  no
                             adds ``Retry-After``
    HTTP_413                 proxy "Request Entity Too Large" page                    no
    REDIRECT_301             nginx http→https redirect (``Location: https://host/…``)  no
    REDIRECT_308             Caddy http→https redirect, empty body                    no
    SLOW                     normal answer, sent ``delay`` seconds (option, default   yes
                             2) after the app finished
    RESET_BEFORE_BODY        connection reset right after the request head; the body  no
                             is never read
    RESET_AFTER_BODY         body read and **processed** (a send stores its           yes
                             messages), then the connection is reset unanswered
    TRUNCATED_JSON           processed; 200 whose body is cut in half (a streamed     yes
                             body: cut inside its first chunk)
    NON_JSON_200             200 ``text/html`` page (captive portal, WAF, maintenance) no
    INVALID_JSON             Moonrope's 400 ``{"status":"invalid-json",…}``           no
    ======================== ======================================================= ===========

    The three 500s are crashes *inside* the application, so the request is processed first and
    the crash replaces the answer: this models the worrying case of an exception raised after
    the messages were inserted (the client sees a 500 although the e-mail is on its way).
    Redirect ``Location`` can be overridden with option ``location``; INVALID_JSON's parser
    message with option ``details``.
    """

    HTTP_500_HTML = "HTTP_500_HTML"
    HTTP_500_JSON_RAILS = "HTTP_500_JSON_RAILS"
    HTTP_500_JSON_MOONROPE = "HTTP_500_JSON_MOONROPE"
    HTTP_502 = "HTTP_502"
    HTTP_503 = "HTTP_503"
    HTTP_504 = "HTTP_504"
    HTTP_429 = "HTTP_429"
    HTTP_413 = "HTTP_413"
    REDIRECT_301 = "REDIRECT_301"
    REDIRECT_308 = "REDIRECT_308"
    SLOW = "SLOW"
    RESET_BEFORE_BODY = "RESET_BEFORE_BODY"
    RESET_AFTER_BODY = "RESET_AFTER_BODY"
    TRUNCATED_JSON = "TRUNCATED_JSON"
    NON_JSON_200 = "NON_JSON_200"
    INVALID_JSON = "INVALID_JSON"

    @property
    def reaches_app(self) -> bool:
        """Whether the application processes a request that meets this fault."""
        return self in _REACHING_APP

    @classmethod
    def parse(cls, value: Fault | str) -> Fault:
        """Accept a member, its name or value in any case, with ``-`` or ``_``.

        :param value: e.g. ``Fault.HTTP_503``, ``"HTTP_503"``, ``"http-503"``.
        :raises ValueError: naming the known faults when ``value`` is not one of them.
        """
        if isinstance(value, Fault):
            return value
        key = str(value).strip().upper().replace("-", "_")
        try:
            return cls[key]
        except KeyError:
            known = ", ".join(member.name for member in cls)
            raise ValueError(f"unknown fault {value!r}; known faults: {known}") from None


_REACHING_APP = frozenset(
    {
        Fault.HTTP_500_HTML,
        Fault.HTTP_500_JSON_RAILS,
        Fault.HTTP_500_JSON_MOONROPE,
        Fault.HTTP_504,
        Fault.SLOW,
        Fault.RESET_AFTER_BODY,
        Fault.TRUNCATED_JSON,
    }
)

_OPTIONS: dict[Fault, frozenset[str]] = {
    Fault.HTTP_429: frozenset({"retry_after"}),
    Fault.SLOW: frozenset({"delay"}),
    Fault.REDIRECT_301: frozenset({"location"}),
    Fault.REDIRECT_308: frozenset({"location"}),
    Fault.INVALID_JSON: frozenset({"details"}),
}

DEFAULT_SLOW_DELAY = 2.0


@dataclass(frozen=True)
class FaultPlan:
    """One queued fault with its options and how many more requests it applies to."""

    fault: Fault
    options: Mapping[str, Any] = field(default_factory=dict)


class FaultQueue:
    """A thread-safe FIFO of faults; each request takes (at most) one."""

    def __init__(self) -> None:
        self._entries: deque[list[Any]] = deque()  # [FaultPlan, remaining count]
        self._lock = threading.Lock()

    def push(self, fault: Fault | str, count: int = 1, **options: Any) -> FaultPlan:
        """Queue ``fault`` for the next ``count`` requests (after the faults already queued).

        :param fault: a :class:`Fault` or its name.
        :param count: how many consecutive requests it hits; at least 1.
        :param options: fault options (``retry_after``, ``delay``, ``location``, ``details``).
        :raises ValueError: for an unknown fault, a count below 1 or an option the fault lacks.
        """
        parsed = Fault.parse(fault)
        if int(count) < 1:
            raise ValueError(f"count must be at least 1, got {count!r}")
        unknown = set(options) - _OPTIONS.get(parsed, frozenset())
        if unknown:
            raise ValueError(f"fault {parsed.name} takes no option(s) {sorted(unknown)}")
        plan = FaultPlan(parsed, dict(options))
        with self._lock:
            self._entries.append([plan, int(count)])
        return plan

    def take(self) -> FaultPlan | None:
        """Consume one application of the oldest queued fault, or return ``None``."""
        with self._lock:
            if not self._entries:
                return None
            entry = self._entries[0]
            entry[1] -= 1
            if entry[1] <= 0:
                self._entries.popleft()
            return entry[0]

    def pending(self) -> list[tuple[Fault, int]]:
        """The queued faults and their remaining counts, oldest first."""
        with self._lock:
            return [(plan.fault, remaining) for plan, remaining in self._entries]

    def clear(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._entries.clear()


def front_response(plan: FaultPlan, request: HttpRequest) -> HttpResponse:
    """Render the answer of a fault raised in front of the application (it never runs).

    :param plan: a fault whose :attr:`Fault.reaches_app` is false (resets excepted).
    :param request: the request, for the redirect target.
    """
    fault, options = plan.fault, plan.options
    if fault in (Fault.REDIRECT_301, Fault.REDIRECT_308):
        location = options.get("location") or _https_location(request)
        if fault is Fault.REDIRECT_301:
            return nginx_page(301, extra_headers=(("Location", location),))
        return HttpResponse(308, (("Location", location),))
    if fault is Fault.HTTP_429:
        retry_after = options.get("retry_after")
        extra = () if retry_after is None else (("Retry-After", _seconds(retry_after)),)
        return nginx_page(429, extra_headers=extra)
    if fault is Fault.HTTP_413:
        # nginx stops talking after refusing an oversized body.
        page = nginx_page(413)
        return HttpResponse(page.status, page.headers, page.body, close_connection=True)
    if fault is Fault.NON_JSON_200:
        return HttpResponse(200, (("Content-Type", HTML_UTF8),), MAINTENANCE_HTML)
    if fault is Fault.INVALID_JSON:
        details = options.get("details", "unexpected token at '{'")
        return moonrope_body(400, {"status": "invalid-json", "details": details})
    status = {Fault.HTTP_502: 502, Fault.HTTP_503: 503}[fault]
    return nginx_page(status)


def degraded_response(plan: FaultPlan, app_response: HttpResponse) -> HttpResponse:
    """Replace or damage the application's answer for a fault raised after it ran.

    :param plan: a fault whose :attr:`Fault.reaches_app` is true (SLOW and resets excepted:
        the transport handles those).
    :param app_response: what the application answered.
    """
    fault = plan.fault
    if fault is Fault.HTTP_500_HTML:
        return HttpResponse(500, (("Content-Type", HTML_UTF8),), RAILS_500_HTML)
    if fault is Fault.HTTP_500_JSON_RAILS:
        return rails_json_500()
    if fault is Fault.HTTP_500_JSON_MOONROPE:
        return moonrope_body(500, {"status": "internal-server-error"})
    if fault is Fault.HTTP_504:
        return nginx_page(504)
    if fault is Fault.TRUNCATED_JSON:
        if app_response.stream is not None:
            # A streamed body has no known length: cut it inside its first chunk instead.
            stream = _first_half_of_first_chunk(app_response.stream)
            return HttpResponse(200, app_response.headers, stream=stream)
        body = app_response.body
        return HttpResponse(200, app_response.headers, body[: len(body) // 2])
    return app_response


def _first_half_of_first_chunk(stream: Iterable[bytes]) -> Iterator[bytes]:
    for chunk in stream:
        yield chunk[: len(chunk) // 2]
        return


def _https_location(request: HttpRequest) -> str:
    # Proxies build the target from the Host name without its port ($host in nginx).
    hostname = urlsplit("//" + (request.header("Host") or "localhost")).hostname or "localhost"
    if ":" in hostname:
        hostname = f"[{hostname}]"
    target = request.path + (f"?{request.query}" if request.query else "")
    return f"https://{hostname}{target}"


def _seconds(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else str(number)
