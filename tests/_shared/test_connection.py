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
    make_conn(password="k", extra={"verify": "/etc/ssl/ca.pem"})
    assert Sender25Hook().settings.verify == "/etc/ssl/ca.pem"


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
