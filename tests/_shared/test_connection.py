"""How a ``sender25`` connection becomes a base URL and typed settings."""

from __future__ import annotations

import pytest

from airflow_provider_mail.exceptions import MailConfigurationError
from airflow_provider_mail.hooks.sender25 import Sender25Hook


@pytest.mark.parametrize(
    ("fields", "base_url"),
    [
        pytest.param({}, "https://br-app.sender25.com", id="default"),
        pytest.param({"host": "br-app.sender25.com"}, "https://br-app.sender25.com", id="host-name"),
        pytest.param({"host": "https://br-app.sender25.com/"}, "https://br-app.sender25.com", id="full-url"),
        pytest.param({"host": "mail.example.com", "port": 8443}, "https://mail.example.com:8443", id="port"),
        pytest.param(
            {"host": "https://proxy.example.com/postal", "port": 444},
            "https://proxy.example.com:444/postal",
            id="url-with-prefix-and-port",
        ),
        pytest.param(
            {"host": "127.0.0.1", "port": 8025, "schema": "http"}, "http://127.0.0.1:8025", id="loopback"
        ),
        pytest.param({"host": "http://localhost:9000"}, "http://localhost:9000", id="localhost-url"),
        pytest.param(
            {"host": "10.1.2.3", "schema": "http", "extra": {"allow_insecure_http": "true"}},
            "http://10.1.2.3",
            id="insecure-allowed",
        ),
    ],
)
def test_base_url(make_conn, fields, base_url):
    make_conn(password="k", **fields)
    assert Sender25Hook().settings.base_url == base_url


@pytest.mark.parametrize("host", ["mail.example.com", "http://mail.example.com"])
def test_plain_http_to_a_remote_host_is_refused(make_conn, host):
    make_conn(password="k", host=host, schema="http")
    with pytest.raises(MailConfigurationError, match="clear text"):
        Sender25Hook().settings  # noqa: B018


@pytest.mark.parametrize("host", ["ftp://x.example.com", "https://"])
def test_unusable_hosts_are_refused(make_conn, host):
    make_conn(password="k", host=host)
    with pytest.raises(MailConfigurationError, match="base URL"):
        Sender25Hook().settings  # noqa: B018


def test_extras_are_typed_and_legacy_keys_are_read(make_conn):
    make_conn(
        password="k",
        extra={
            "timeout": "12.5",
            "extra__sender25__max_retries": "5",
            "verify": "false",
            "from_email": "Acme <n@example.com>",
            "retry_backoff": 0.5,
        },
    )
    settings = Sender25Hook().settings
    assert (settings.timeout, settings.retry_policy.max_retries, settings.verify) == (12.5, 5, False)
    assert (settings.from_email, settings.retry_policy.backoff) == ("Acme <n@example.com>", 0.5)


def test_hook_arguments_override_extras(make_conn):
    make_conn(password="k", extra={"timeout": 5, "max_retries": 5})
    settings = Sender25Hook(timeout=1, max_retries=0).settings
    assert (settings.timeout, settings.retry_policy.max_retries) == (1, 0)


def test_verify_can_be_a_ca_bundle_path(make_conn):
    import certifi

    make_conn(password="k", extra={"verify": certifi.where()})
    assert Sender25Hook().settings.verify == certifi.where()


# -- issue 15 item 15: untyped errors become named configuration errors, when the connection is read -----
def xmailer_conn(monkeypatch, extra):
    import json

    conn = {"conn_type": "xmailer", "login": "u", "password": "p", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_XMAILER_DEFAULT", json.dumps(conn))


def read_settings(hook, path):
    """The settings as the sync path (``hook.settings``) or the async path (``aget_settings``) reads them."""
    import asyncio

    return hook.settings if path == "sync" else asyncio.run(hook.aget_settings())


BAD_EXTRAS = [
    pytest.param({"timeout": 1e300}, "timeout", id="timeout-1e300"),
    pytest.param({"connect_timeout": "1e300"}, "connect_timeout", id="connect-timeout-1e300"),
    pytest.param({"retry_max_wait": 1e300}, "retry_max_wait", id="max-wait-1e300"),
    pytest.param({"verify": "maybe"}, "verify", id="verify-maybe"),
    pytest.param({"verify": __file__}, "verify", id="verify-not-a-ca-bundle"),
]


@pytest.mark.parametrize("path", ["sync", "async"])
@pytest.mark.parametrize(("extra", "name"), BAD_EXTRAS)
def test_unusable_numbers_and_ca_bundles_are_named_when_the_sender25_connection_is_read(
    make_conn, extra, name, path
):
    make_conn(password="k", extra=extra)
    with pytest.raises(MailConfigurationError, match=f"extra {name!r}"):
        read_settings(Sender25Hook(), path)


@pytest.mark.parametrize("path", ["sync", "async"])
@pytest.mark.parametrize(
    ("extra", "name"), [*BAD_EXTRAS, pytest.param({"smtp_ca_file": "maybe"}, "smtp_ca_file", id="smtp-ca")]
)
def test_unusable_numbers_and_ca_bundles_are_named_when_the_xmailer_connection_is_read(
    monkeypatch, extra, name, path
):
    from airflow_provider_mail.hooks.xmailer import XmailerReportHook, XmailerSmtpHook

    xmailer_conn(monkeypatch, extra)
    for hook in (XmailerReportHook(), XmailerSmtpHook()):
        with pytest.raises(MailConfigurationError, match=f"extra {name!r}"):
            read_settings(hook, path)


def test_an_async_call_with_verify_maybe_is_a_configuration_error_not_file_not_found(make_conn):
    import asyncio

    make_conn(password="k", extra={"verify": "maybe"})
    with pytest.raises(MailConfigurationError, match="extra 'verify'"):
        asyncio.run(Sender25Hook().aget_message(1))


@pytest.mark.parametrize(
    ("extra", "name"),
    [
        ({"timeout": "soon"}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"allow_insecure_http": "maybe"}, "allow_insecure_http"),
    ],
)
def test_bad_extras_name_the_extra(make_conn, extra, name):
    make_conn(password="k", extra=extra)
    with pytest.raises(MailConfigurationError, match=name):
        Sender25Hook().settings  # noqa: B018


def test_the_key_is_not_in_the_settings_repr(make_conn):
    make_conn(password="very-secret-key")
    assert "very-secret-key" not in repr(Sender25Hook().settings)


def test_no_network_and_no_connection_lookup_in_init(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_SENDER25_DEFAULT", raising=False)
    hook = Sender25Hook()  # the connection does not exist; only first use may fail
    assert hook.sender25_conn_id == "sender25_default"
