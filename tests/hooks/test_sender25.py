"""Sender25Hook against the emulator over real loopback HTTP: shapes, errors, faults, retries, secrets."""

from __future__ import annotations

import logging
import socket
from email.message import EmailMessage
from email.policy import SMTP

import pytest

from airflow_provider_mail._sender25.response import expect_list, expect_object, interpret_response
from airflow_provider_mail._transport.http import HttpResponse
from airflow_provider_mail.exceptions import (
    AmbiguousSendError,
    MailConfigurationError,
    Sender25ApiError,
    Sender25AuthError,
    Sender25MessageNotFound,
    Sender25ParameterError,
    Sender25PayloadTooLarge,
    Sender25RedirectError,
    Sender25TransportError,
    Sender25UnexpectedResponse,
    Sender25ValidationError,
)
from airflow_provider_mail.hooks.sender25 import (
    DELIVERIES_PATH,
    MESSAGE_PATH,
    SEND_MESSAGE_PATH,
    SEND_RAW_PATH,
    Sender25Hook,
)
from airflow_provider_mail.testing import Fault

FLAVOURS = ["rails", "moonrope"]
SEND_KW = {
    "to": ["ana@example.org", "bo@example.org"],
    "from_email": "Acme <noreply@example.com>",
    "subject": "Invoice 42",
    "plain_body": "Hello",
}


def api_requests(emulator, path):
    return [r for r in emulator.requests if r.path == path]


# -- success shapes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_send_message_returns_message_id_and_one_id_per_recipient(hook, sender25_conn, flavour):
    sender25_conn.flavour = flavour
    result = hook.send_message(**SEND_KW)
    assert set(result["messages"]) == {"ana@example.org", "bo@example.org"}
    ids = [m["id"] for m in result["messages"].values()]
    assert all(isinstance(i, int) for i in ids) and ids[1] == ids[0] + 1
    assert all(len(m["token"]) == 16 and m["token"].isalnum() for m in result["messages"].values())
    assert result["message_id"].endswith("@" + "rp.emulator.test")
    stored = sender25_conn.message(ids[0])
    assert stored.subject == "Invoice 42" and stored.plain_body.strip() == "Hello"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_send_raw_takes_message_id_from_the_message(hook, sender25_conn, flavour):
    sender25_conn.flavour = flavour
    message = EmailMessage()
    message["From"] = "noreply@example.com"
    message["To"] = "ana@example.org"
    message["Subject"] = "Raw"
    message["Message-ID"] = "<raw-1@example.com>"
    message.set_content("raw body")
    result = hook.send_raw(mail_from="noreply@example.com", rcpt_to=["ana@example.org"], data=message)
    assert result["message_id"] == "raw-1@example.com"
    (entry,) = result["messages"].values()
    assert sender25_conn.message(entry["id"]).raw == message.as_bytes(policy=SMTP)


def test_send_raw_without_message_id_returns_null_message_id(hook, sender25_conn):
    raw = b"From: noreply@example.com\r\nTo: ana@example.org\r\nSubject: x\r\n\r\nbody\r\n"
    result = hook.send_raw(mail_from="noreply@example.com", rcpt_to="ana@example.org", data=raw)
    assert result["message_id"] is None
    assert list(result["messages"]) == ["ana@example.org"]


@pytest.mark.parametrize("flavour", [*FLAVOURS, "rails-3.3.1"])
def test_get_message_always_sends_an_explicit_expansion_list_and_int_id(hook, sender25_conn, flavour):
    sender25_conn.flavour = flavour
    sent = hook.send_message(**SEND_KW)
    message_id = sent["messages"]["ana@example.org"]["id"]
    data = hook.get_message(str(message_id))
    assert data["id"] == message_id
    assert data["status"]["status"] == "Pending"
    assert data["details"]["rcpt_to"] == "ana@example.org"
    assert isinstance(data["details"]["size"], str)
    params = api_requests(sender25_conn, MESSAGE_PATH)[-1].params
    assert params == {"id": message_id, "_expansions": ["status", "details"]}


def test_get_message_with_all_expansions_never_sends_true(hook, sender25_conn):
    sender25_conn.flavour = "rails-3.3.1"  # answers 500 to `_expansions: true`
    sent = hook.send_message(**SEND_KW, html_body="<p>Hello</p>")
    message_id = sent["messages"]["bo@example.org"]["id"]
    data = hook.get_message(message_id, expansions=True)
    assert {"status", "details", "headers", "raw_message", "plain_body", "html_body"} <= set(data)
    assert isinstance(api_requests(sender25_conn, MESSAGE_PATH)[-1].params["_expansions"], list)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_get_deliveries_is_empty_while_pending_then_lists_attempts(hook, sender25_conn, flavour):
    sender25_conn.flavour = flavour
    sent = hook.send_message(**{**SEND_KW, "to": ["carla+softfail@example.org"]})
    message_id = sent["messages"]["carla+softfail@example.org"]["id"]
    assert hook.get_deliveries(message_id) == []
    sender25_conn.advance(60)
    deliveries = hook.get_deliveries(message_id)
    assert [d["status"] for d in deliveries][-1] == "Sent"
    assert "SoftFail" in [d["status"] for d in deliveries]
    assert [d["timestamp"] for d in deliveries] == sorted(d["timestamp"] for d in deliveries)
    assert hook.get_message(message_id)["status"]["status"] == "Sent"


def test_test_connection_accepts_a_valid_key(hook, sender25_conn):
    ok, text = hook.test_connection()
    assert ok, text
    assert sender25_conn.base_url in text
    assert sender25_conn.accepted_sends() == []


def test_test_connection_reports_a_refused_key_without_raising(make_conn, sender25_emulator):
    make_conn(host="127.0.0.1", port=sender25_emulator.port, schema="http", password="wrong-key")
    ok, text = Sender25Hook().test_connection()
    assert not ok
    assert "InvalidServerAPIKey" in text and "wrong-key" not in text


def test_test_connection_reports_an_unreachable_server_without_raising(make_conn):
    make_conn(host="127.0.0.1", port=_closed_port(), schema="http", password="k", extra={"max_retries": 0})
    ok, text = Sender25Hook().test_connection()
    assert not ok
    assert "Sender25TransportError" in text


# -- API errors: every code of the doc's §2-§6 -------------------------------------------------------
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_missing_api_key_raises_access_denied(hook, sender25_conn, flavour):
    class KeylessHook(Sender25Hook):
        def _request_headers(self) -> dict[str, str]:
            return {k: v for k, v in super()._request_headers().items() if k != "X-Server-API-Key"}

    sender25_conn.flavour = flavour
    with pytest.raises(Sender25AuthError) as info:
        KeylessHook().get_deliveries(1)
    assert info.value.code == "AccessDenied"
    assert info.value.message == "Must be authenticated as a server."


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_invalid_api_key_raises_auth_error_without_echoing_the_key(make_conn, sender25_emulator, flavour):
    sender25_emulator.flavour = flavour
    make_conn(host="127.0.0.1", port=sender25_emulator.port, schema="http", password="s3cr3t-wrong")
    with pytest.raises(Sender25AuthError) as info:
        Sender25Hook().get_message(1)
    error = info.value
    assert error.code == "InvalidServerAPIKey"
    assert error.message == "The API token provided in X-Server-API-Key was not valid."
    assert error.data["token"] == "***"
    assert "s3cr3t-wrong" not in f"{error} {error!r} {error.data}"


@pytest.mark.parametrize(
    ("flavour", "message"), [("rails", ""), ("moonrope", "The mail server has been suspended")]
)
def test_suspended_server_raises_auth_error(hook, sender25_conn, flavour, message):
    sender25_conn.flavour = flavour
    sender25_conn.suspended = True
    with pytest.raises(Sender25AuthError) as info:
        hook.send_message(**SEND_KW)
    assert info.value.code == "ServerSuspended"
    assert info.value.message == message
    assert sender25_conn.accepted_sends() == []


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize(
    ("payload", "code", "message"),
    [
        pytest.param(
            {"from": "a@example.com", "plain_body": "x"},
            "NoRecipients",
            "There are no recipients defined to receive this message",
            id="NoRecipients",
        ),
        pytest.param(
            {"to": [f"r{i}@example.org" for i in range(51)], "from": "a@example.com", "plain_body": "x"},
            "TooManyToAddresses",
            "The maximum number of To addresses has been reached (maximum 50)",
            id="TooManyToAddresses",
        ),
        pytest.param(
            {
                "to": ["a@example.org"],
                "cc": [f"r{i}@example.org" for i in range(51)],
                "from": "a@example.com",
                "plain_body": "x",
            },
            "TooManyCCAddresses",
            "The maximum number of CC addresses has been reached (maximum 50)",
            id="TooManyCCAddresses",
        ),
        pytest.param(
            {
                "to": ["a@example.org"],
                "bcc": [f"r{i}@example.org" for i in range(51)],
                "from": "a@example.com",
                "plain_body": "x",
            },
            "TooManyBCCAddresses",
            "The maximum number of BCC addresses has been reached (maximum 50)",
            id="TooManyBCCAddresses",
        ),
        pytest.param(
            {"to": ["a@example.org"], "from": "a@example.com"},
            "NoContent",
            "There is no content defined for this e-mail",
            id="NoContent",
        ),
        pytest.param(
            {"to": ["a@example.org"], "plain_body": "x"},
            "FromAddressMissing",
            "The From address is missing and is required",
            id="FromAddressMissing",
        ),
        pytest.param(
            {"to": ["a@example.org"], "from": "a@not-verified.example", "plain_body": "x"},
            "UnauthenticatedFromAddress",
            "The From address is not authorised to send mail from this server",
            id="UnauthenticatedFromAddress",
        ),
        pytest.param(
            {
                "to": ["a@example.org"],
                "from": "a@example.com",
                "plain_body": "x",
                "attachments": [{"name": "", "data": "aGVsbG8="}],
            },
            "AttachmentMissingName",
            None,
            id="AttachmentMissingName",
        ),
        pytest.param(
            {
                "to": ["a@example.org"],
                "from": "a@example.com",
                "plain_body": "x",
                "attachments": [{"name": "a.txt", "data": "ICAg"}],
            },
            "AttachmentMissingData",
            None,
            id="AttachmentMissingData",
        ),
    ],
)
def test_server_side_send_errors_raise_validation_error_with_code_and_message(
    hook, sender25_conn, flavour, payload, code, message
):
    """The raw transport is used so the server, not the client's own checks, produces each code."""
    sender25_conn.flavour = flavour
    with pytest.raises(Sender25ValidationError) as info:
        hook._call(SEND_MESSAGE_PATH, payload, expect_object, send_to=[])
    assert info.value.code == code
    if message:
        assert info.value.message == message
    assert info.value.http_status == 200
    assert sender25_conn.accepted_sends() == []


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_raw_send_from_an_unverified_domain_raises_unauthenticated_from(hook, sender25_conn, flavour):
    sender25_conn.flavour = flavour
    raw = b"From: x@elsewhere.example\r\nSubject: x\r\n\r\nbody\r\n"
    with pytest.raises(Sender25ValidationError) as info:
        hook.send_raw(mail_from="x@elsewhere.example", rcpt_to=["a@example.org"], data=raw)
    assert info.value.code == "UnauthenticatedFromAddress"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_unknown_message_raises_message_not_found_with_the_id(hook, sender25_conn, flavour):
    sender25_conn.flavour = flavour
    with pytest.raises(Sender25MessageNotFound) as info:
        hook.get_message(987654)
    assert info.value.code == "MessageNotFound"
    assert info.value.message == "No message found matching provided ID"
    assert info.value.data["id"] == 987654


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_blank_id_raises_parameter_error_without_code(hook, sender25_conn, flavour):
    sender25_conn.flavour = flavour
    with pytest.raises(Sender25ParameterError) as info:
        hook._call(DELIVERIES_PATH, {"id": None}, expect_list)
    assert info.value.code is None
    assert info.value.message == "`id` parameter is required but is missing"


def test_moonrope_type_error_raises_parameter_error(hook, sender25_conn):
    sender25_conn.flavour = "moonrope"
    with pytest.raises(Sender25ParameterError) as info:
        hook._call(
            SEND_MESSAGE_PATH,
            {"to": "a@example.org", "from": "a@example.com", "plain_body": "x"},
            expect_object,
            send_to=[],
        )
    assert info.value.message == "`to` should be a `Array` but is a `String`"


def test_an_unknown_error_code_still_raises_an_api_error_with_its_data():
    body = b'{"status":"error","time":null,"flags":{},"data":{"code":"BrandNewCode","extra":1}}'
    with pytest.raises(Sender25ApiError) as info:
        interpret_response(HttpResponse(200, {}, body), path=SEND_MESSAGE_PATH)
    assert type(info.value) is Sender25ApiError
    assert (info.value.code, info.value.message, info.value.data["extra"]) == ("BrandNewCode", "", 1)


# -- faults: every fault of §9 / §12.11 as its named exception ------------------------------------
@pytest.mark.parametrize(
    ("fault", "error_class", "http_status"),
    [
        (Fault.HTTP_500_HTML, Sender25UnexpectedResponse, 500),
        (Fault.HTTP_500_JSON_RAILS, Sender25UnexpectedResponse, 500),
        (Fault.HTTP_500_JSON_MOONROPE, Sender25UnexpectedResponse, 500),
        (Fault.HTTP_502, Sender25TransportError, 502),
        (Fault.HTTP_503, Sender25TransportError, 503),
        (Fault.HTTP_504, Sender25TransportError, 504),
        (Fault.HTTP_429, Sender25TransportError, 429),
        (Fault.REDIRECT_301, Sender25RedirectError, 301),
        (Fault.REDIRECT_308, Sender25RedirectError, 308),
        (Fault.HTTP_413, Sender25PayloadTooLarge, 413),
        (Fault.TRUNCATED_JSON, Sender25UnexpectedResponse, 200),
        (Fault.NON_JSON_200, Sender25UnexpectedResponse, 200),
        (Fault.INVALID_JSON, Sender25UnexpectedResponse, 400),
        (Fault.RESET_BEFORE_BODY, Sender25TransportError, None),
        (Fault.RESET_AFTER_BODY, Sender25TransportError, None),
    ],
)
def test_each_fault_on_a_read_raises_its_named_exception(
    hook, sender25_conn, fault, error_class, http_status
):
    sent = hook.send_message(**SEND_KW)
    message_id = sent["messages"]["ana@example.org"]["id"]
    sender25_conn.inject(fault, count=10)
    with pytest.raises(error_class) as info:
        hook.get_message(message_id)
    assert getattr(info.value, "http_status", None) == http_status


def test_a_slow_answer_on_a_read_raises_transport_error(make_conn, sender25_emulator):
    make_conn(
        host="127.0.0.1",
        port=sender25_emulator.port,
        schema="http",
        password=sender25_emulator.api_key,
        extra={"timeout": 0.3, "max_retries": 1, "retry_backoff": 0.01},
    )
    sender25_emulator.inject(Fault.SLOW, count=2, delay=1.0)
    with pytest.raises(Sender25TransportError, match="read timeout"):
        Sender25Hook().get_deliveries(1)
    assert len(api_requests(sender25_emulator, DELIVERIES_PATH)) == 2


def test_redirect_error_names_the_fix(hook, sender25_conn):
    sender25_conn.inject(Fault.REDIRECT_301)
    with pytest.raises(Sender25RedirectError) as info:
        hook.get_deliveries(1)
    assert info.value.location and info.value.location.startswith("https://")
    assert "https" in str(info.value) and "never followed" in str(info.value)


# -- retries ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fault",
    [
        Fault.HTTP_503,
        Fault.HTTP_502,
        Fault.HTTP_504,
        Fault.HTTP_500_HTML,
        Fault.HTTP_429,
        Fault.RESET_AFTER_BODY,
    ],
)
def test_reads_are_retried_the_configured_number_of_times(hook, sender25_conn, fault):
    sender25_conn.inject(fault, count=100)
    with pytest.raises((Sender25TransportError, Sender25UnexpectedResponse)):
        hook.get_deliveries(1)
    assert len(api_requests(sender25_conn, DELIVERIES_PATH)) == 1 + 3  # max_retries defaults to 3
    assert len(hook.recorded_waits) == 3


def test_a_read_succeeds_once_the_fault_clears(hook, sender25_conn):
    sent = hook.send_message(**SEND_KW)
    sender25_conn.inject(Fault.HTTP_503, count=2)
    assert hook.get_deliveries(sent["messages"]["bo@example.org"]["id"]) == []
    assert len(api_requests(sender25_conn, DELIVERIES_PATH)) == 3


def test_max_retries_from_the_connection_extra_is_honoured(make_conn, sender25_emulator):
    make_conn(
        host="127.0.0.1",
        port=sender25_emulator.port,
        schema="http",
        password=sender25_emulator.api_key,
        extra={"max_retries": 1, "retry_backoff": 0.01},
    )
    sender25_emulator.inject(Fault.HTTP_502, count=10)
    with pytest.raises(Sender25TransportError):
        Sender25Hook().get_deliveries(1)
    assert len(api_requests(sender25_emulator, DELIVERIES_PATH)) == 2


def test_backoff_honours_retry_after(hook, sender25_conn):
    sender25_conn.inject(Fault.HTTP_429, count=1, retry_after=7)
    hook.get_message(hook.send_message(**SEND_KW)["messages"]["ana@example.org"]["id"])
    assert hook.recorded_waits and hook.recorded_waits[0] >= 7


def test_backoff_grows_between_retries(hook, sender25_conn):
    sender25_conn.inject(Fault.HTTP_503, count=100)
    with pytest.raises(Sender25TransportError):
        hook.get_deliveries(1)
    first, _, third = hook.recorded_waits
    assert third > first


def test_api_errors_are_not_retried(hook, sender25_conn):
    with pytest.raises(Sender25MessageNotFound):
        hook.get_deliveries(424242)
    assert len(api_requests(sender25_conn, DELIVERIES_PATH)) == 1


# -- sends are never repeated once they may have reached the API ----------------------------------
@pytest.mark.parametrize(
    "fault",
    [
        Fault.RESET_BEFORE_BODY,
        Fault.RESET_AFTER_BODY,
        Fault.HTTP_500_HTML,
        Fault.HTTP_500_JSON_RAILS,
        Fault.HTTP_500_JSON_MOONROPE,
        Fault.HTTP_502,
        Fault.HTTP_504,
        Fault.TRUNCATED_JSON,
        Fault.NON_JSON_200,
    ],
)
@pytest.mark.parametrize("method", ["send_message", "send_raw"])
def test_an_ambiguous_fault_on_a_send_reaches_the_emulator_exactly_once(hook, sender25_conn, fault, method):
    sender25_conn.inject(fault, count=10)
    with pytest.raises(AmbiguousSendError) as info:
        _send(hook, method)
    path = SEND_MESSAGE_PATH if method == "send_message" else SEND_RAW_PATH
    assert len(api_requests(sender25_conn, path)) == 1
    assert "NOT retried" in str(info.value)
    assert "ana@example.org" in info.value.recipients[0]
    assert hook.recorded_waits == []


def test_a_send_that_times_out_is_ambiguous_and_was_stored_once(make_conn, sender25_emulator):
    make_conn(
        host="127.0.0.1",
        port=sender25_emulator.port,
        schema="http",
        password=sender25_emulator.api_key,
        extra={"timeout": 0.3, "retry_backoff": 0.01},
    )
    sender25_emulator.inject(Fault.SLOW, delay=1.0)
    with pytest.raises(AmbiguousSendError):
        Sender25Hook().send_message(**SEND_KW)
    assert len(api_requests(sender25_emulator, SEND_MESSAGE_PATH)) == 1
    assert len(sender25_emulator.accepted_sends()) == 1  # the dangerous case: it *was* queued


def test_reset_after_body_on_a_send_stored_the_message_once(hook, sender25_conn):
    sender25_conn.inject(Fault.RESET_AFTER_BODY)
    with pytest.raises(AmbiguousSendError):
        hook.send_message(**SEND_KW)
    assert len(sender25_conn.accepted_sends()) == 1
    assert len(sender25_conn.messages()) == 2  # one per recipient, one request


@pytest.mark.parametrize("fault", [Fault.HTTP_503, Fault.HTTP_429])
def test_a_send_refused_at_the_front_is_retried_and_sent_once(hook, sender25_conn, fault):
    sender25_conn.inject(fault, count=2)
    result = hook.send_message(**SEND_KW)
    assert len(result["messages"]) == 2
    assert len(api_requests(sender25_conn, SEND_MESSAGE_PATH)) == 3
    assert len(sender25_conn.accepted_sends()) == 1


def test_a_send_to_a_closed_port_is_retried_and_raises_transport_error(make_conn):
    make_conn(
        host="127.0.0.1",
        port=_closed_port(),
        schema="http",
        password="k",
        extra={"max_retries": 2, "retry_backoff": 0.01},
    )
    hook = Sender25Hook()
    waits: list[float] = []
    hook._sleep = waits.append
    with pytest.raises(Sender25TransportError) as info:
        hook.send_message(**SEND_KW)
    assert not isinstance(info.value, AmbiguousSendError)
    assert len(waits) == 2


@pytest.mark.parametrize("fault", [Fault.REDIRECT_308, Fault.HTTP_413])
def test_a_send_refused_by_the_front_for_configuration_is_not_retried(hook, sender25_conn, fault):
    sender25_conn.inject(fault, count=10)
    with pytest.raises((Sender25RedirectError, Sender25PayloadTooLarge)):
        hook.send_message(**SEND_KW)
    assert len(api_requests(sender25_conn, SEND_MESSAGE_PATH)) == 1
    assert sender25_conn.accepted_sends() == []


# -- client-side validation happens before any request --------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        pytest.param({"to": None}, "NoRecipients", id="no-recipients"),
        pytest.param({"to": [f"r{i}@example.org" for i in range(51)]}, "TooManyToAddresses", id="51-to"),
        pytest.param({"cc": [f"c{i}@example.org" for i in range(51)]}, "TooManyCCAddresses", id="51-cc"),
        pytest.param({"bcc": [f"b{i}@example.org" for i in range(51)]}, "TooManyBCCAddresses", id="51-bcc"),
        pytest.param({"plain_body": "  "}, "NoContent", id="no-content"),
        pytest.param({"from_email": ""}, "FromAddressMissing", id="no-from"),
        pytest.param({"attachments": [("", b"x")]}, "AttachmentMissingName", id="attachment-no-name"),
        pytest.param({"attachments": [("a.txt", b" \n")]}, "AttachmentMissingData", id="attachment-blank"),
        pytest.param({"to": ["not-an-address"]}, "InvalidAddress", id="malformed-to"),
        pytest.param({"reply_to": "a@@b"}, "InvalidAddress", id="malformed-reply-to"),
        pytest.param({"subject": "Hi\r\nBcc: victim@example.org"}, "HeaderInjection", id="subject-crlf"),
        pytest.param({"headers": {"X-Trace": "a\nb"}}, "HeaderInjection", id="header-value-lf"),
        pytest.param({"headers": {"Bad Name": "v"}}, "HeaderInjection", id="header-name-space"),
        pytest.param({"from_email": "a@example.com\r\nBcc: x@y.org"}, "HeaderInjection", id="from-crlf"),
    ],
)
def test_invalid_send_arguments_raise_before_any_request(hook, sender25_conn, kwargs, code):
    with pytest.raises(Sender25ValidationError) as info:
        hook.send_message(**{**SEND_KW, **kwargs})
    assert info.value.code == code
    assert sender25_conn.requests == []


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        pytest.param({"rcpt_to": []}, "NoRecipients", id="empty-rcpt-to"),
        pytest.param({"mail_from": ""}, "FromAddressMissing", id="no-mail-from"),
        pytest.param({"data": b"Subject: no from\r\n\r\nbody"}, "FromAddressMissing", id="no-from-header"),
        pytest.param({"rcpt_to": ["bad address"]}, "InvalidAddress", id="malformed-rcpt"),
        pytest.param({"data": 42}, "InvalidArgument", id="data-not-bytes"),
    ],
)
def test_invalid_raw_send_arguments_raise_before_any_request(hook, sender25_conn, kwargs, code):
    base = {
        "mail_from": "noreply@example.com",
        "rcpt_to": ["a@example.org"],
        "data": b"From: noreply@example.com\r\n\r\nbody",
    }
    with pytest.raises(Sender25ValidationError) as info:
        hook.send_raw(**{**base, **kwargs})
    assert info.value.code == code
    assert sender25_conn.requests == []


@pytest.mark.parametrize("bad_id", ["abc", 1.5, None, True])
def test_a_non_integer_message_id_raises_before_any_request(hook, sender25_conn, bad_id):
    with pytest.raises(Sender25ValidationError):
        hook.get_message(bad_id)
    assert sender25_conn.requests == []


def test_duplicate_recipients_are_sent_once(hook, sender25_conn):
    result = hook.send_message(
        **{
            **SEND_KW,
            "to": ["Ana@Example.org", "ana@example.org"],
            "cc": ["ANA@example.org", "bo@example.org"],
        }
    )
    assert len(result["messages"]) == 2
    assert len(sender25_conn.messages()) == 2


# -- secrets ----------------------------------------------------------------------------------------
def test_the_api_key_never_reaches_logs_or_exception_texts(make_conn, sender25_emulator, caplog):
    key = sender25_emulator.api_key
    make_conn(
        host="127.0.0.1",
        port=sender25_emulator.port,
        schema="http",
        password=key,
        extra={"retry_backoff": 0.01, "max_retries": 1},
    )
    caplog.set_level(logging.DEBUG)
    hook = Sender25Hook()
    texts = [repr(hook.settings), repr(hook.conn.extra_dejson)]
    sent = hook.send_message(**SEND_KW)
    for fault in (Fault.HTTP_503, Fault.HTTP_500_HTML, Fault.RESET_AFTER_BODY, Fault.REDIRECT_301):
        sender25_emulator.inject(fault, count=5)
        with pytest.raises(Exception) as info:  # noqa: PT011 - each fault has its own class, checked above
            hook.get_message(sent["messages"]["ana@example.org"]["id"])
        texts += [str(info.value), repr(info.value), repr(vars(info.value))]
        sender25_emulator.reset()
    sender25_emulator.inject(Fault.HTTP_504)
    with pytest.raises(AmbiguousSendError) as ambiguous:
        hook.send_message(**SEND_KW)
    texts += [str(ambiguous.value), str(ambiguous.value.__cause__)]
    assert caplog.text  # retries were logged
    assert all(key not in text for text in [caplog.text, *texts])


# -- connection settings --------------------------------------------------------------------------
def test_the_issue_connection_json_works(monkeypatch, sender25_emulator):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SENDER25_DEFAULT",
        '{"conn_type":"sender25","host":"127.0.0.1","port":PORT,"schema":"http","password":"KEY"}'.replace(
            "PORT", str(sender25_emulator.port)
        ).replace("KEY", sender25_emulator.api_key),
    )
    assert Sender25Hook().test_connection()[0]


def test_the_uri_form_works(monkeypatch, sender25_emulator):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SENDER25_DEFAULT",
        f"sender25://:{sender25_emulator.api_key}@127.0.0.1:{sender25_emulator.port}/http",
    )
    assert Sender25Hook().test_connection()[0]


def test_a_connection_without_key_is_a_configuration_error(make_conn):
    make_conn(host="127.0.0.1", port=1, schema="http")
    with pytest.raises(MailConfigurationError, match="password"):
        Sender25Hook().get_message(1)


def _send(hook: Sender25Hook, method: str) -> dict:
    if method == "send_message":
        return hook.send_message(**SEND_KW)
    raw = b"From: noreply@example.com\r\nTo: ana@example.org\r\nSubject: x\r\n\r\nbody\r\n"
    return hook.send_raw(mail_from="noreply@example.com", rcpt_to=["ana@example.org"], data=raw)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
