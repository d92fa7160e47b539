"""Bad connection settings are a named ``MailConfigurationError`` on both services, before any network call.

One table of bad connection fields, run against a ``sender25`` and an ``xmailer`` connection (read
through the hooks, as the operators do). A raw ``ValueError``/``AttributeError``/``OverflowError``
fails the test.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_mail.exceptions import MailConfigurationError
from airflow_provider_mail.hooks.sender25 import Sender25Hook
from airflow_provider_mail.hooks.xmailer import XmailerReportHook

SECRET = "s3cr3t-Key-0123456789"

VALID = {
    "sender25": {"conn_type": "sender25", "password": SECRET},
    "xmailer": {"conn_type": "xmailer", "login": "user@example.com", "password": SECRET},
}


@pytest.fixture
def settings_of(monkeypatch):
    """Define the service's default connection from fields and return its validated settings."""

    def settings(service: str, **fields):
        body = {**VALID[service], **fields}
        monkeypatch.setenv(f"AIRFLOW_CONN_{service.upper()}_DEFAULT", json.dumps(body))
        hook = Sender25Hook() if service == "sender25" else XmailerReportHook()
        return hook.settings

    return settings


BAD = [
    # extra that is not a JSON object
    ("extra-list", {"extra": [1, 2]}, "extra"),
    ("extra-not-json", {"extra": "timeout=5"}, "extra"),
    ("extra-json-string", {"extra": '"abc"'}, "extra"),
    ("extra-json-number", {"extra": "42"}, "extra"),
    # timeouts and waits: finite and > 0
    ("timeout-inf-text", {"extra": {"timeout": "inf"}}, "timeout"),
    ("timeout-nan-text", {"extra": {"timeout": "nan"}}, "timeout"),
    ("timeout-infinity-json", {"extra": '{"timeout": Infinity}'}, "timeout"),
    ("timeout-nan-json", {"extra": '{"timeout": NaN}'}, "timeout"),
    ("timeout-zero", {"extra": {"timeout": 0}}, "timeout"),
    ("timeout-negative", {"extra": {"timeout": -1}}, "timeout"),
    ("timeout-overflow", {"extra": {"timeout": 10**400}}, "timeout"),
    ("timeout-bool", {"extra": {"timeout": True}}, "timeout"),
    ("timeout-list", {"extra": {"timeout": [1]}}, "timeout"),
    ("connect-timeout-zero", {"extra": {"connect_timeout": "0"}}, "connect_timeout"),
    ("connect-timeout-inf", {"extra": {"connect_timeout": "Infinity"}}, "connect_timeout"),
    ("retry-backoff-nan", {"extra": {"retry_backoff": "nan"}}, "retry_backoff"),
    ("retry-max-wait-inf", {"extra": {"retry_max_wait": "inf"}}, "retry_max_wait"),
    ("max-retries-float", {"extra": {"max_retries": 2.5}}, "max_retries"),
    # ports
    ("port-too-big", {"host": "mail.example.com", "port": 70000}, "port"),
    ("port-65536", {"host": "mail.example.com", "port": 65536}, "port"),
    ("port-negative", {"host": "mail.example.com", "port": -1}, "port"),
    ("url-port-too-big", {"host": "https://mail.example.com:99999"}, "port"),
    ("url-port-not-a-number", {"host": "https://mail.example.com:abc"}, "port"),
    # host
    ("host-with-newline", {"host": "mail.example.com\r\nX: y"}, "host"),
    ("host-with-space", {"host": "mail example.com"}, "host"),
    ("host-idna2008-refused", {"host": "\u2603.example"}, "host"),
    # secret
    ("secret-trailing-newline", {"password": SECRET + "\n"}, "password"),
    ("secret-trailing-crlf", {"password": SECRET + "\r\n"}, "password"),
    ("secret-leading-space", {"password": " " + SECRET}, "password"),
    ("secret-inner-tab", {"password": SECRET[:4] + "\t" + SECRET[4:]}, "password"),
    ("secret-non-latin1", {"password": SECRET + "ключ"}, "password"),
    ("secret-line-separator", {"password": SECRET + "\u2028"}, "password"),
]

XMAILER_ONLY = [
    ("smtp-port-too-big", {"extra": {"smtp_port": 70000}}, "smtp_port"),
    ("smtp-port-zero", {"extra": {"smtp_port": 0}}, "smtp_port"),
    ("smtp-host-with-newline", {"extra": {"smtp_host": "smtp.example.com\n"}}, "smtp_host"),
    ("smtp-host-idna2008-refused", {"extra": {"smtp_host": "smtp.\u2603.example"}}, "smtp_host"),
    ("login-trailing-newline", {"login": "user@example.com\n"}, "login"),
    ("login-non-ascii", {"login": "usuário\u2028@example.com"}, "login"),
]


def _params():
    params = [
        pytest.param(service, fields, named, id=f"{service}-{case_id}")
        for case_id, fields, named in BAD
        for service in ("sender25", "xmailer")
    ]
    params += [
        pytest.param("xmailer", fields, named, id=f"xmailer-{case_id}")
        for case_id, fields, named in XMAILER_ONLY
    ]
    return params


@pytest.mark.parametrize(("service", "fields", "named"), _params())
def test_bad_connection_setting_is_a_named_configuration_error(settings_of, service, fields, named):
    with pytest.raises(MailConfigurationError) as info:
        settings_of(service, **fields)
    text = str(info.value)
    assert named in text
    assert SECRET not in text and SECRET not in repr(info.value)


@pytest.mark.parametrize("service", ["sender25", "xmailer"])
def test_a_key_with_a_trailing_newline_is_refused_without_echoing_it(settings_of, service):
    with pytest.raises(MailConfigurationError) as info:
        settings_of(service, password=SECRET + "\n")
    assert "whitespace" in str(info.value)
    for shown in (str(info.value), repr(info.value), repr(info.value.args)):
        assert SECRET not in shown and SECRET[:8] not in shown


@pytest.mark.parametrize("service", ["sender25", "xmailer"])
def test_good_settings_still_resolve(settings_of, service):
    settings = settings_of(
        service,
        host="mail.example.com",
        port=8443,
        extra={"timeout": "2.5", "connect_timeout": 1, "retry_backoff": 0, "max_retries": 0},
    )
    assert (settings.timeout, settings.connect_timeout, settings.retry_policy.backoff) == (2.5, 1.0, 0.0)


def test_an_idn_report_host_and_smtp_host_are_encoded_with_idna_2008(settings_of):
    settings = settings_of("xmailer", host="relatórios.straße.de", extra={"smtp_host": "smtp.straße.de"})
    assert settings.report_url.startswith("https://xn--relatrios-96a.xn--strae-oqa.de/")
    assert settings.smtp_host == "smtp.xn--strae-oqa.de"


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 0, -1])
def test_a_hook_timeout_argument_is_validated_like_the_extra(make_conn, value):
    make_conn(password=SECRET)
    with pytest.raises(MailConfigurationError, match="timeout"):
        Sender25Hook(timeout=value).settings  # noqa: B018
