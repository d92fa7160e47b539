"""The two value types every emulator speaks: one HTTP request in, one HTTP response out.

They are plain frozen data so an emulated service is a pure-ish function of a request (plus its
own state), testable without sockets, and the transport (:mod:`._server`) stays generic.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

JSON_UTF8 = "application/json; charset=utf-8"
HTML_UTF8 = "text/html; charset=utf-8"


@dataclass(frozen=True)
class HttpRequest:
    """One parsed request as the emulated service sees it.

    :param method: the request method, upper case as sent (``POST``).
    :param path: the path without the query string (``/api/v1/send/message``).
    :param query: the raw query string without ``?`` (may be empty).
    :param headers: the header fields in arrival order, names as sent.
    :param body: the complete request body (chunked bodies already joined).
    :param client_ip: the peer address, for ``Received:`` headers and logs.
    """

    method: str
    path: str
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    client_ip: str = "127.0.0.1"

    def header(self, name: str) -> str | None:
        """Return the first value of header ``name`` (case-insensitive), or ``None``.

        :param name: the header name, any case.
        """
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    @property
    def content_type(self) -> str | None:
        """The ``Content-Type`` header as sent, or ``None``."""
        return self.header("Content-Type")


@dataclass(frozen=True)
class HttpResponse:
    """One response to write back.

    The transport adds ``Content-Length`` for a ``body``; a ``stream`` is sent with chunked
    transfer coding instead, one chunk per item, as the iterable produces them — so a huge body
    is generated while it is written and never held in memory.

    :param status: the HTTP status code.
    :param headers: extra header fields (``Content-Type`` included when there is a body).
    :param body: the body bytes (ignored when ``stream`` is given).
    :param close_connection: send ``Connection: close`` and end the keep-alive connection.
    :param stream: the body as an iterable of byte chunks, consumed once by the transport.
    """

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    close_connection: bool = False
    stream: Iterable[bytes] | None = field(default=None, compare=False, repr=False)

    def header(self, name: str) -> str | None:
        """Return the first value of header ``name`` (case-insensitive), or ``None``.

        :param name: the header name, any case.
        """
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    @classmethod
    def json(
        cls, status: int, payload: Any, *, extra_headers: tuple[tuple[str, str], ...] = ()
    ) -> HttpResponse:
        """Build a plain JSON response (used by the admin interface, not by emulated services).

        :param status: the HTTP status code.
        :param payload: anything :func:`json.dumps` accepts.
        :param extra_headers: more header fields to send.
        """
        body = json.dumps(payload, separators=(",", ":")).encode()
        return cls(status, (("Content-Type", JSON_UTF8), *extra_headers), body)


@dataclass(frozen=True)
class AppOutcome:
    """What an emulated service did with a request: the response plus facts for the request log.

    :param response: the response the service produced.
    :param params: the parsed parameter hash the service acted on, ``None`` if it never parsed any.
    :param api_key_valid: whether the presented credential was valid; ``None`` if none was checked.
    :param api_status: the ``status`` word of the service's JSON envelope, if it answered with one.
    :param error_code: ``data.code`` of an error envelope, if any.
    :param stored_message_ids: ids of the messages this request stored.
    """

    response: HttpResponse
    params: Any = None
    api_key_valid: bool | None = None
    api_status: str | None = None
    error_code: str | None = None
    stored_message_ids: tuple[int, ...] = field(default_factory=tuple)
