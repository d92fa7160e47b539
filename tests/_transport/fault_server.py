"""A tiny HTTP server that misbehaves on purpose, for the fault matrix (real sockets on loopback).

Each fault is produced for real: a TCP reset (``SO_LINGER`` 0), a response that never completes, a
body one byte at a time, a short ``Content-Length``, a chunked body cut off. The server counts the
requests it read and the sends it *processed* (acted on before failing), which is what "stored"
means for a send: never more than one.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import ssl
import struct
import threading
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_mail import exceptions as errors

#: Short timeouts (the drip outlasts them) and backoffs that are recorded, not slept.
FAST_EXTRAS = {"timeout": 0.6, "connect_timeout": 0.4, "retry_backoff": 0.001}
NEVER, MAYBE, CONFIG = "never-sent", "maybe-sent", "configuration"

#: fault -> (what it means, Sender25 error, xmailer report error)
FAULTS = {
    "refused": (NEVER, errors.Sender25TransportError, errors.XmailerTransportError),
    "dns": (NEVER, errors.Sender25TransportError, errors.XmailerTransportError),
    "tls_untrusted": (CONFIG, errors.Sender25ConfigurationError, errors.XmailerConfigurationError),
    "reset_before": (NEVER, errors.Sender25TransportError, errors.XmailerTransportError),
    "reset_after": (MAYBE, errors.Sender25TransportError, errors.XmailerTransportError),
    "read_timeout": (MAYBE, errors.Sender25TransportError, errors.XmailerTransportError),
    "drip": (MAYBE, errors.Sender25TransportError, errors.XmailerTransportError),
    "429": (NEVER, errors.Sender25TransportError, errors.XmailerTransportError),
    "503": (NEVER, errors.Sender25TransportError, errors.XmailerTransportError),
    "500": (MAYBE, errors.Sender25UnexpectedResponse, errors.XmailerTransportError),
    "502": (MAYBE, errors.Sender25TransportError, errors.XmailerTransportError),
    "504": (MAYBE, errors.Sender25TransportError, errors.XmailerTransportError),
    "html_200": (
        MAYBE,
        errors.Sender25UnexpectedResponse,
        getattr(errors, "XmailerUnexpectedResponse", None),
    ),
    "truncated_json": (MAYBE, errors.Sender25UnexpectedResponse, None),
    "json_not_object": (MAYBE, errors.Sender25UnexpectedResponse, None),
    "unknown_status": (MAYBE, errors.Sender25UnexpectedResponse, None),
    "301": (CONFIG, errors.Sender25RedirectError, errors.XmailerConfigurationError),
    "308": (CONFIG, errors.Sender25RedirectError, errors.XmailerConfigurationError),
    "404": (CONFIG, errors.Sender25ConfigurationError, errors.XmailerConfigurationError),
    "short_content_length": (MAYBE, errors.Sender25TransportError, errors.XmailerTransportError),
    "chunked_cut": (MAYBE, errors.Sender25TransportError, errors.XmailerTransportError),
}

#: Below the clients' read timeout, so only a bound on the whole call can stop the drip.
DRIP_INTERVAL = 0.25
SEND_PATHS = ("/api/v1/send/message", "/api/v1/send/raw")
REPORT_LINE = "1grzDQ-000866-0o;cobranca@envio.example.com.br;ana@example.org;22/11/2026;10:01:45;Entregue com sucesso\n"
HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body><h1>Oops</h1></body></html>\n"
)

#: Faults that let the request reach the "application" before failing (a send is then stored).
PROCESSED = {
    "reset_after",
    "read_timeout",
    "drip",
    "500",
    "502",
    "504",
    "html_200",
    "truncated_json",
    "json_not_object",
    "unknown_status",
    "short_content_length",
    "chunked_cut",
    "odd_success",
}


@dataclass
class FaultLog:
    """What the server saw: requests read, and sends processed."""

    requests: list[str] = field(default_factory=list)
    processed_sends: int = 0


class FaultServer:
    """Serve ``fault`` on every request until closed.

    :param fault: the fault name (see the test's matrix).
    :param tls_context: serve TLS with this server context (for the untrusted-certificate fault).
    """

    def __init__(self, fault: str, *, tls_context: ssl.SSLContext | None = None) -> None:
        self.fault = fault
        self.log = FaultLog()
        self.stop = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                server._handle(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

            def get_request(self):  # type: ignore[no-untyped-def]
                sock, address = super().get_request()
                if tls_context is not None:
                    try:
                        sock = tls_context.wrap_socket(sock, server_side=True)
                    except (ssl.SSLError, OSError):
                        sock.close()
                        raise
                return sock, address

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving (and end any slow response)."""
        self.stop.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- behaviour ----------------------------------------------------------------------------------
    def _handle(self, sock: socket.socket) -> None:
        fault = self.fault
        if fault == "reset_before":
            _reset(sock)
            return
        request = _read_request(sock)
        if request is None:
            return
        path, head = request
        with self._lock:
            self.log.requests.append(path)
            if fault in PROCESSED and path.split("?")[0] in SEND_PATHS:
                self.log.processed_sends += 1
        report = "report" in path
        if fault == "echo_500":  # an error page that shows the request, its API key header first
            with contextlib.suppress(OSError):
                sock.sendall(_response(500, echo_page(head), "text/html"))
            return
        with contextlib.suppress(OSError):
            self._answer(sock, fault, path, report)

    def _answer(self, sock: socket.socket, fault: str, path: str, report: bool) -> None:
        if fault == "reset_after":
            _reset(sock)
        elif fault == "read_timeout":
            self.stop.wait(30)
        elif fault == "drip":
            for byte in _response(200, _success(path, report), "application/json"):
                if self.stop.wait(DRIP_INTERVAL):
                    return
                sock.sendall(bytes([byte]))
        elif fault in ("429", "503"):
            sock.sendall(_response(int(fault), b"slow down", "text/plain", {"Retry-After": "1"}))
        elif fault in ("500", "502", "504"):
            sock.sendall(_response(int(fault), HTML_PAGE, "text/html"))
        elif fault == "404":
            sock.sendall(_response(404, b"<html><body>Not Found</body></html>", "text/html"))
        elif fault in ("301", "308"):
            sock.sendall(_response(int(fault), b"", "text/html", {"Location": "https://elsewhere.example/"}))
        elif fault == "html_200":
            sock.sendall(_response(200, b"<html><body><b>Fatal error</b>: oops</body></html>", "text/html"))
        elif fault == "truncated_json":
            sock.sendall(_response(200, b'{"status":"success","time":0.01,"fl', "application/json"))
        elif fault == "odd_success":  # accepted, but the ids cannot be read
            body = b'{"status":"success","time":0.01,"flags":{},"data":{"message_id":7,"messages":["ana"]}}'
            sock.sendall(_response(200, body, "application/json"))
        elif fault == "json_not_object":
            sock.sendall(_response(200, b"[1, 2, 3]", "application/json"))
        elif fault == "unknown_status":
            sock.sendall(
                _response(200, b'{"status":"maybe","time":0.01,"flags":{},"data":{}}', "application/json")
            )
        elif fault == "short_content_length":
            body = _success(path, report)
            head = _response(200, body, "application/json")[: -len(body)]
            head = head.replace(
                f"Content-Length: {len(body)}".encode(), f"Content-Length: {len(body) + 5000}".encode()
            )
            sock.sendall(head + body)
            _hang_up(sock)
        elif fault == "chunked_cut":
            body = _success(path, report)
            sock.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            sock.sendall(f"{len(body):x}\r\n".encode() + body + b"\r\n")
            _hang_up(sock)
        else:  # "tls_untrusted" and anything else: a normal answer
            sock.sendall(_response(200, _success(path, report), "application/json"))


def _success(path: str, report: bool) -> bytes:
    if report:
        return (REPORT_LINE * 2000).encode()  # ~230 KB: several 64 KiB chunks before a cut
    if path.startswith("/api/v1/send/"):
        data: object = {"message_id": "a@b", "messages": {"ana@example.org": {"id": 1, "token": "t0k3n"}}}
    elif path.startswith("/api/v1/messages/deliveries"):
        data = []
    else:
        data = {
            "id": 1,
            "token": "t0k3n",
            "status": {
                "status": "Pending",
                "last_delivery_attempt": None,
                "held": False,
                "hold_expiry": None,
            },
        }
    return json.dumps({"status": "success", "time": 0.01, "flags": {}, "data": data}).encode()


def _response(status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> bytes:
    # Connection: close, so no client reuses a connection this server is about to drop
    lines = [
        f"HTTP/1.1 {status} Whatever",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _read_request(sock: socket.socket) -> tuple[str, bytes] | None:
    data = b""
    sock.settimeout(10)
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            body += chunk
    except OSError:
        return None
    return head.split(b" ")[1].decode(), head


def _reset(sock: socket.socket) -> None:
    """Close with a TCP RST instead of a FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


#: Where the echoed key starts in an ``echo_500`` page: inside the 200 characters a client keeps of an
#: error page, but too close to their end for the whole key to fit (a cut key escapes a late redaction).
ECHOED_KEY_AT = 190


def echo_page(head: bytes) -> bytes:
    """An error page printing the request's ``X-Server-API-Key`` line, its value at
    :data:`ECHOED_KEY_AT`, then the rest of the request."""
    lines = head.split(b"\r\n")
    key_line = next((line for line in lines if line.lower().startswith(b"x-server-api-key:")), b"")
    prefix = b"<html><pre>"
    label = b"X-Server-API-Key: "
    filler = b"f" * (ECHOED_KEY_AT - len(prefix) - 1 - len(label))
    value = key_line.split(b":", 1)[1].strip() if key_line else b""
    return prefix + filler + b" " + label + value + b"\n" + head + b"</pre></html>"


def _hang_up(sock: socket.socket) -> None:
    """Close with a FIN: the client reads everything sent, then finds the body cut short."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
    sock.close()


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def define_connections(monkeypatch: Any, fault: str, port: int, extras: dict[str, Any]) -> None:
    """Point ``matrix_sender25`` and ``matrix_xmailer`` at the fault server (or nowhere, for DNS).

    :param monkeypatch: pytest's monkeypatch.
    :param fault: the fault name.
    :param port: the server's port.
    :param extras: connection extras.
    """
    host, schema = ("nonexistent.invalid", "https") if fault == "dns" else ("127.0.0.1", "http")
    if fault in ("tls_untrusted", "reset_before"):  # a TLS handshake proves nothing was written yet
        schema = "https"
    common = {"host": host, "port": port, "schema": schema, "extra": extras}
    monkeypatch.setenv(
        "AIRFLOW_CONN_MATRIX_SENDER25",
        json.dumps({"conn_type": "sender25", "password": "K3Y-matrix", **common}),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_MATRIX_XMAILER",
        json.dumps({"conn_type": "xmailer", "login": "user", "password": "P4ss-matrix", **common}),
    )
