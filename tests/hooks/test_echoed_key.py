"""Issue 15 item 13: Postal's authentication errors echo the key they got; none of it reaches an
exception, a log or an XCom. A tiny server answers every request with the key in one more form."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, quote_plus

import pytest

from airflow_provider_mail.exceptions import Sender25AuthError
from airflow_provider_mail.hooks.sender25 import Sender25Hook

KEY = 'Ab3/d+Ef6&g=Hi9"Jk2<LmN4'  # URL-encodes, JSON-escapes and HTML-escapes differently

ECHOES = {
    "token": lambda key: {
        "code": "InvalidServerAPIKey",
        "message": "The API token provided in X-Server-API-Key was not valid.",
        "token": key,
    },
    "access-denied-token": lambda key: {
        "code": "AccessDenied",
        "message": "Must be authenticated",
        "token": key,
    },
    "message": lambda key: {
        "code": "AccessDenied",
        "message": f"Must be authenticated as a server, not {key}",
    },
    "url-encoded": lambda key: {"code": "InvalidServerAPIKey", "message": f"bad key {quote(key, safe='')}"},
    "plus-encoded": lambda key: {"code": "InvalidServerAPIKey", "message": f"bad key {quote_plus(key)}"},
    "cut": lambda key: {"code": "InvalidServerAPIKey", "message": f"key {key[:11]}... was not valid"},
    "nested": lambda key: {"code": "AccessDenied", "message": "denied", "request": {"headers": [key]}},
    "as-a-key": lambda key: {"code": "AccessDenied", "message": "denied", "seen": {key: True}},
}


class EchoServer(ThreadingHTTPServer):
    echo = "token"


class EchoHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        key = self.headers.get("X-Server-API-Key", "")
        data = ECHOES[self.server.echo](key)  # type: ignore[attr-defined]
        # escaped as PHP and Ruby escape JSON: "\/" for "/", \\u for non-ASCII
        body = json.dumps({"status": "error", "time": 0.01, "flags": {}, "data": data}).replace("/", "\\/")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(monkeypatch):
    httpd = EchoServer(("127.0.0.1", 0), EchoHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    conn = {
        "conn_type": "sender25",
        "host": "127.0.0.1",
        "port": httpd.server_address[1],
        "schema": "http",
        "password": KEY,
        "extra": {"max_retries": 0},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SENDER25_DEFAULT", json.dumps(conn))
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def assert_no_part_of_the_key(text: str) -> None:
    for form in (KEY, quote(KEY, safe=""), quote_plus(KEY), json.dumps(KEY)[1:-1], repr(KEY)[1:-1]):
        assert form not in text
    for start in range(len(KEY) - 7):
        assert KEY[start : start + 8] not in text, f"{KEY[start : start + 8]!r} leaked in {text[:400]!r}"


@pytest.mark.parametrize("echo", sorted(ECHOES))
def test_no_part_of_an_echoed_key_reaches_the_error_or_the_log(server, echo, caplog):
    caplog.set_level(logging.DEBUG)
    server.echo = echo
    with pytest.raises(Sender25AuthError) as info:
        Sender25Hook().get_message(1)
    error = info.value
    assert error.code in ("InvalidServerAPIKey", "AccessDenied")
    assert_no_part_of_the_key(f"{error} {error!r} {vars(error)} {error.data} {caplog.text}")


def test_the_async_path_redacts_the_same(server):
    server.echo = "message"
    with pytest.raises(Sender25AuthError) as info:
        asyncio.run(Sender25Hook().aget_message(1))
    assert_no_part_of_the_key(f"{info.value} {info.value!r} {vars(info.value)}")
