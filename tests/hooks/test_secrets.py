"""Issue 10 item 14: the client removes its own secrets from every text it raises or logs, in every form."""

from __future__ import annotations

import json
import logging
from urllib.parse import quote, quote_plus

import pytest

from airflow_provider_mail.exceptions import MailProviderError
from airflow_provider_mail.hooks.sender25 import Sender25Hook
from airflow_provider_mail.hooks.xmailer import XmailerReportHook
from tests._transport.fault_server import FaultServer, free_port

SECRET = "s3cr/t+key&=ç"  # URL-encodes, JSON-escapes and repr-escapes differently
GET_SECRET = "s3cr/t+key&=%9z"  # a valid password (ASCII) that a query string encodes


def forms(secret: str) -> list[str]:
    return [secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1], repr(secret)[1:-1]]


def assert_clean(text: str, secret: str = SECRET) -> None:
    for form in forms(secret):
        assert form not in text, f"{form!r} leaked in {text[:300]!r}"


def test_the_report_password_in_a_get_url_never_reaches_an_exception(monkeypatch, caplog):
    """A GET report puts the password in the query string; requests' and httpx's errors quote URLs."""
    caplog.set_level(logging.DEBUG)
    conn = {
        "conn_type": "xmailer",
        "host": "127.0.0.1",
        "port": free_port(),
        "schema": "http",
        "login": "user",
        "password": GET_SECRET,
        "extra": {"report_method": "get", "max_retries": 1, "retry_backoff": 0.001, "timeout": 1},
    }
    monkeypatch.setenv("AIRFLOW_CONN_XMAILER_DEFAULT", json.dumps(conn))
    hook = XmailerReportHook()
    with pytest.raises(MailProviderError) as info:
        list(hook.get_report("2026-11-22T10:00:00+00:00", "2026-11-22T11:00:00+00:00"))
    assert "could not connect" in str(info.value)  # (with SECRET the connection was refused as unreadable)
    assert_clean(f"{info.value} {info.value!r} {info.value.__cause__!r} {caplog.text}", GET_SECRET)


def test_a_key_echoed_back_by_an_error_page_is_redacted(monkeypatch, caplog):
    """A proxy's error page may print the request it got, API key header included."""
    caplog.set_level(logging.DEBUG)
    key = "Abc123-echoed-Key"
    with FaultServer("echo_500") as server:
        monkeypatch.setenv(
            "AIRFLOW_CONN_SENDER25_DEFAULT",
            json.dumps(
                {
                    "conn_type": "sender25",
                    "host": "127.0.0.1",
                    "port": server.port,
                    "schema": "http",
                    "password": key,
                    "extra": {"max_retries": 1, "retry_backoff": 0.001},
                }
            ),
        )
        with pytest.raises(MailProviderError) as info:
            Sender25Hook().get_message(1)
    error = info.value
    text = f"{error} {error!r} {vars(error)} {caplog.text}"
    assert "<html><pre>ffff" in text  # the page was echoed ...
    assert_clean(text, key)  # ... without the key
    assert key[:8] not in text  # not even the part of it that fit in the excerpt


def test_redaction_covers_every_spelling():
    from airflow_provider_mail._shared.redact import Redactor

    redact = Redactor([SECRET, "tok\n"])
    text = " | ".join([*forms(SECRET), *forms("tok\n")])
    assert_clean(redact(text))
    assert_clean(redact(text), "tok\n")


def printed_chain(error: BaseException) -> str:
    """What a traceback shows: the error and every cause and context it prints."""
    import traceback

    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


def get_report_conn(monkeypatch) -> None:
    conn = {
        "conn_type": "xmailer",
        "host": "127.0.0.1",
        "port": free_port(),
        "schema": "http",
        "login": "user",
        "password": GET_SECRET,
        "extra": {"report_method": "get", "max_retries": 0, "timeout": 1},
    }
    monkeypatch.setenv("AIRFLOW_CONN_XMAILER_DEFAULT", json.dumps(conn))


def test_the_printed_chain_of_a_get_report_holds_no_form_of_the_password(monkeypatch):
    """Issue 15 item 14: the library's exception (printed as the cause) quotes the URL, query included."""
    get_report_conn(monkeypatch)
    with pytest.raises(MailProviderError) as info:
        list(XmailerReportHook().get_report("2026-11-22T10:00:00+00:00", "2026-11-22T11:00:00+00:00"))
    chain = printed_chain(info.value)
    assert "could not connect" in chain and "ConnectionError" in chain  # the cause is still told
    assert_clean(chain, GET_SECRET)


def test_the_printed_chain_of_an_async_get_report_holds_no_form_of_the_password(monkeypatch):
    import asyncio

    get_report_conn(monkeypatch)

    async def read() -> None:
        async for _ in XmailerReportHook().aiter_report(
            "2026-11-22T10:00:00+00:00", "2026-11-22T11:00:00+00:00"
        ):
            pass

    with pytest.raises(MailProviderError) as info:
        asyncio.run(read())
    chain = printed_chain(info.value)
    assert "ConnectError" in chain
    assert_clean(chain, GET_SECRET)
