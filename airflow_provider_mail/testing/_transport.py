"""Reading requests off, and writing responses onto, an ``http.server`` connection.

The byte-level half of :mod:`._server`: request targets and bodies (``Content-Length`` or
chunked), responses with ``Content-Length`` or — for a streamed body — chunked transfer coding,
and the abortive close that models a connection reset.
"""

from __future__ import annotations

import os
import socket
import struct
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlsplit

from ._http import HttpResponse

MAX_BODY_BYTES = 64 * 1024 * 1024


def query_keys(query: str) -> list[str]:
    """Names of the parameters in a query string, first occurrence order, without values.

    :param query: the raw query string.
    """
    keys: list[str] = []
    for key, _ in parse_qsl(query, keep_blank_values=True):
        if key not in keys:
            keys.append(key)
    return keys


def split_target(target: str) -> tuple[str, str]:
    """Split a request target into path and query (absolute-form targets included).

    :param target: the request line's target.
    """
    if not target.startswith("/"):  # absolute-form target, as sent to a proxy
        parts = urlsplit(target)
        return parts.path or "/", parts.query
    path, _, query = target.partition("?")
    return path, query


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """Read the request body (``Content-Length`` or chunked).

    :param handler: the connection's handler.
    :raises ValueError: for a malformed or oversized body.
    """
    if "chunked" in (handler.headers.get("Transfer-Encoding") or "").lower():
        return read_chunked(handler)
    raw_length = handler.headers.get("Content-Length")
    if raw_length is None:
        return b""
    try:
        length = int(raw_length)
    except ValueError:
        raise ValueError(f"invalid Content-Length {raw_length!r}") from None
    if length < 0 or length > MAX_BODY_BYTES:
        raise ValueError(f"unsupported Content-Length {length}")
    return handler.rfile.read(length)


def read_chunked(handler: BaseHTTPRequestHandler) -> bytes:
    """Read and join a chunked request body.

    :param handler: the connection's handler.
    :raises ValueError: for a malformed or oversized body.
    """
    chunks: list[bytes] = []
    total = 0
    while True:
        size_line = handler.rfile.readline(1024).split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise ValueError("malformed chunked body") from None
        if size == 0:
            while handler.rfile.readline(1024).strip():  # trailer fields, then the blank line
                pass
            return b"".join(chunks)
        total += size
        if total > MAX_BODY_BYTES:
            raise ValueError("request body too large")
        chunks.append(handler.rfile.read(size))
        handler.rfile.readline(8)


def write_response(handler: BaseHTTPRequestHandler, response: HttpResponse, head_only: bool) -> None:
    """Write a response; a client that went away only ends the connection.

    :param handler: the connection's handler.
    :param response: the response (a ``stream`` goes out chunked).
    :param head_only: answer a HEAD request: headers only.
    """
    if response.stream is not None:
        write_stream(handler, response, head_only)
        return
    try:
        handler.send_response(response.status)
        for name, value in response.headers:
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(response.body)))
        if response.close_connection:
            handler.send_header("Connection", "close")
        handler.end_headers()
        if response.body and not head_only:
            handler.wfile.write(response.body)
        handler.wfile.flush()
    except OSError:  # the client went away (e.g. it timed out on a SLOW fault)
        handler.close_connection = True


def write_stream(handler: BaseHTTPRequestHandler, response: HttpResponse, head_only: bool) -> None:
    """Write a response whose body is a stream, chunk by chunk as it is produced.

    :param handler: the connection's handler.
    :param response: the response; its ``stream`` is consumed.
    :param head_only: answer a HEAD request: headers only.
    """
    assert response.stream is not None
    # An HTTP/1.0 client knows no chunked coding: the end of its body is the end of the connection.
    chunked = handler.request_version != "HTTP/1.0"
    try:
        handler.send_response(response.status)
        for name, value in response.headers:
            handler.send_header(name, value)
        if chunked:
            handler.send_header("Transfer-Encoding", "chunked")
        if response.close_connection or not chunked:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.end_headers()
        if not head_only:
            for chunk in response.stream:
                if not chunk:
                    continue  # an empty chunk would end a chunked body early
                if chunked:
                    handler.wfile.write(b"%X\r\n%b\r\n" % (len(chunk), chunk))
                else:
                    handler.wfile.write(chunk)
            if chunked:
                handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()
    except OSError:  # the client stopped reading half-way
        handler.close_connection = True


def reset_connection(handler: BaseHTTPRequestHandler) -> None:
    """Abort the connection so the peer gets a TCP RST instead of an answer.

    :param handler: the connection's handler.
    """
    handler.close_connection = True
    sock = handler.connection
    try:
        # Linger 0 turns close() into an abortive close: the peer gets RST, not an orderly FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # Close the descriptor ourselves: socketserver would shutdown(SHUT_WR) first (a FIN).
        os.close(sock.detach())
    except OSError:
        pass
