"""The Sender25 emulator on the wire: each test states one behaviour of the reference doc
(``sender25-api.md``) and checks it with plain ``requests`` / ``http.client``."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_mail.testing import Fault, Sender25Emulator

SEND, RAW, MESSAGE, DELIVERIES = "send/message", "send/raw", "messages/message", "messages/deliveries"
VALID = {
    "to": ["ana@example.org"],
    "from": "Acme <noreply@example.com>",
    "subject": "Report",
    "plain_body": "Hi",
}
ALL_EXPANSIONS = [
    "status",
    "details",
    "inspection",
    "plain_body",
    "html_body",
    "attachments",
    "headers",
    "raw_message",
    "activity_entries",
]
_DEFAULT_KEY = object()


def call(
    emu: Sender25Emulator,
    path: str,
    payload: Any = None,
    *,
    api_key: Any = _DEFAULT_KEY,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> requests.Response:
    """One request to ``/api/v1/<path>``, JSON-encoding ``payload`` when given."""
    sent = (
        {} if api_key is None else {"X-Server-API-Key": emu.api_key if api_key is _DEFAULT_KEY else api_key}
    )
    if payload is not None:
        sent["Content-Type"] = "application/json"
        kwargs["data"] = json.dumps(payload)
    sent.update(headers or {})
    return requests.request(method, f"{emu.base_url}/api/v1/{path}", headers=sent, timeout=5, **kwargs)


def send(emu: Sender25Emulator, **params: Any) -> dict[str, Any]:
    """A successful send/message with VALID overridden by ``params``; returns ``data``."""
    body = call(emu, SEND, {**VALID, **params}).json()
    assert body["status"] == "success", body
    return body["data"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def rfc822(
    from_header: str = "App <app@example.com>", extra: str = "Message-ID: <abc-1@app.example.org>\r\n"
) -> bytes:
    return f"From: {from_header}\r\nTo: ana@example.org\r\nSubject: Raw\r\n{extra}\r\nBody\r\n".encode()


def admin(emu: Sender25Emulator, method: str, route: str, payload: Any = None) -> requests.Response:
    return requests.request(method, f"{emu.base_url}/_emulator/{route}", json=payload, timeout=5)


# -- 1. paths and methods -----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH"])
def test_rails_routes_get_post_put_and_patch_to_the_action(sender25_emulator, method):
    response = call(sender25_emulator, SEND, {}, method=method)
    assert response.status_code == 200
    assert response.json()["data"]["code"] == "NoRecipients"


@pytest.mark.parametrize("method", ["DELETE", "OPTIONS"])
def test_rails_answers_other_methods_with_its_404_page(sender25_emulator, method):
    response = call(sender25_emulator, SEND, {}, method=method)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "The page you were looking for doesn't exist." in response.text


def test_moonrope_ignores_the_method(sender25_emulator):
    sender25_emulator.flavour = "moonrope"
    response = call(sender25_emulator, SEND, {}, method="DELETE")
    assert response.json()["data"]["code"] == "NoRecipients"


def test_moonrope_answers_options_preflight_with_plain_ok(sender25_emulator):
    sender25_emulator.flavour = "moonrope"
    response = call(
        sender25_emulator, SEND, method="OPTIONS", headers={"Access-Control-Request-Headers": "x-a"}
    )
    assert (response.status_code, response.text) == (200, "OK")
    assert response.headers["Content-Type"] == "text/plain"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Access-Control-Allow-Headers"] == "x-a"


@pytest.mark.parametrize(
    ("flavour", "accept", "status", "content_type", "body"),
    [
        ("rails", "*/*", 404, "text/html; charset=utf-8", None),
        (
            "rails",
            "application/json",
            404,
            "application/json; charset=utf-8",
            {"status": 404, "error": "Not Found"},
        ),
        ("moonrope", "*/*", 400, "application/json", {"status": "invalid-controller-or-action"}),
    ],
)
def test_unknown_api_path_gets_the_flavours_answer(
    sender25_emulator, flavour, accept, status, content_type, body
):
    sender25_emulator.flavour = flavour
    response = call(sender25_emulator, "send/foo", {}, headers={"Accept": accept})
    assert (response.status_code, response.headers["Content-Type"]) == (status, content_type)
    if body is None:
        assert "doesn't exist" in response.text
    else:
        assert response.json() == body


def test_every_response_has_content_length_and_the_connection_is_kept_alive(sender25_emulator):
    connection = http.client.HTTPConnection(sender25_emulator.host, sender25_emulator.port, timeout=5)
    headers = {"X-Server-API-Key": sender25_emulator.api_key, "Content-Type": "application/json"}
    try:
        for _ in range(2):
            connection.request("POST", "/api/v1/send/message", body="{}", headers=headers)
            response = connection.getresponse()
            body = response.read()
            assert int(response.headers["Content-Length"]) == len(body)
        assert connection.sock is not None  # still the same, open socket
    finally:
        connection.close()


# -- 2. parameter sourcing ----------------------------------------------------------------------


@pytest.mark.parametrize(("flavour", "status"), [("rails", "error"), ("moonrope", "success")])
def test_json_content_type_match_is_case_sensitive_only_in_rails(sender25_emulator, flavour, status):
    sender25_emulator.flavour = flavour
    response = call(
        sender25_emulator, SEND, headers={"Content-Type": "Application/JSON"}, data=json.dumps(VALID)
    )
    assert response.json()["status"] == status


@pytest.mark.parametrize("flavour", ["rails", "moonrope"])
@pytest.mark.parametrize("where", ["form", "query"])
def test_params_field_holding_json_is_read(sender25_emulator, flavour, where):
    sender25_emulator.flavour = flavour
    field = {"params": json.dumps(VALID)}
    kwargs = {"data": field} if where == "form" else {"params": field}
    assert call(sender25_emulator, SEND, **kwargs).json()["status"] == "success"


@pytest.mark.parametrize("flavour", ["rails", "moonrope"])
def test_no_json_and_no_params_field_means_empty_params(sender25_emulator, flavour):
    sender25_emulator.flavour = flavour
    response = call(sender25_emulator, SEND, data="to=ana@example.org")
    assert response.json()["data"]["code"] == "NoRecipients"
    assert sender25_emulator.requests[-1].params == {}


@pytest.mark.parametrize(("flavour", "subject"), [("rails", "From the query"), ("moonrope", "")])
def test_query_params_are_merged_under_a_json_body_in_rails_only(sender25_emulator, flavour, subject):
    sender25_emulator.flavour = flavour
    payload = {key: value for key, value in VALID.items() if key != "subject"}
    call(sender25_emulator, SEND, payload, params={"subject": "From the query"})
    assert sender25_emulator.messages()[0].subject == subject


@pytest.mark.parametrize(
    ("flavour", "status", "content_type", "body"),
    [
        ("rails", 400, "text/html; charset=utf-8", b""),
        ("moonrope", 400, "application/json", None),
    ],
)
def test_malformed_json_body(sender25_emulator, flavour, status, content_type, body):
    sender25_emulator.flavour = flavour
    headers = {"Content-Type": "application/json"}
    response = call(sender25_emulator, SEND, headers=headers, data='{"to": [')
    assert (response.status_code, response.headers["Content-Type"]) == (status, content_type)
    if body is None:
        assert response.json()["status"] == "invalid-json"
        assert "unexpected token" in response.json()["details"]
    else:
        assert response.content == body


@pytest.mark.parametrize("flavour", ["rails", "moonrope"])
def test_malformed_json_behind_a_bad_key_still_answers_the_auth_error(sender25_emulator, flavour):
    sender25_emulator.flavour = flavour
    headers = {"Content-Type": "application/json"}
    response = call(sender25_emulator, SEND, api_key="nope", headers=headers, data="{oops")
    assert response.status_code == 200
    assert response.json()["data"]["code"] == "InvalidServerAPIKey"


@pytest.mark.parametrize(
    ("flavour", "status", "marker"), [("rails", 500, "went wrong"), ("moonrope", 400, "invalid-json")]
)
def test_malformed_params_field(sender25_emulator, flavour, status, marker):
    sender25_emulator.flavour = flavour
    response = call(sender25_emulator, SEND, data={"params": "{not json"})
    assert response.status_code == status
    assert marker in response.text


# -- 3. authentication --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flavour", "api_key", "data", "time_is_null"),
    [
        ("rails", None, {"message": "Must be authenticated as a server.", "code": "AccessDenied"}, False),
        ("rails", "", {"message": "Must be authenticated as a server.", "code": "AccessDenied"}, False),
        (
            "rails",
            "wrong",
            {
                "message": "The API token provided in X-Server-API-Key was not valid.",
                "token": "wrong",
                "code": "InvalidServerAPIKey",
            },
            False,
        ),
        (
            "moonrope",
            None,
            {
                "code": "AccessDenied",
                "message": "Must be authenticated as a server.",
                "action": "message",
                "controller": "send",
            },
            True,
        ),
        (
            "moonrope",
            "",
            {
                "code": "InvalidServerAPIKey",
                "message": "The API token provided in X-Server-API-Key was not valid.",
                "token": "",
            },
            True,
        ),
    ],
)
def test_authentication_errors_per_flavour(sender25_emulator, flavour, api_key, data, time_is_null):
    sender25_emulator.flavour = flavour
    response = call(sender25_emulator, SEND, VALID, api_key=api_key)
    body = response.json()
    assert (response.status_code, body["status"]) == (200, "error")
    assert list(body["data"].items()) == list(data.items())  # same keys, same order
    assert (body["time"] is None) is time_is_null
    assert sender25_emulator.messages() == []


def test_moonrope_access_denied_names_the_called_endpoint(sender25_emulator):
    sender25_emulator.flavour = "moonrope"
    data = call(sender25_emulator, DELIVERIES, {"id": 1}, api_key=None).json()["data"]
    assert (data["action"], data["controller"]) == ("deliveries", "messages")


@pytest.mark.parametrize(
    ("flavour", "data", "time_is_null"),
    [
        ("rails", {"code": "ServerSuspended"}, False),
        ("moonrope", {"code": "ServerSuspended", "message": "The mail server has been suspended"}, True),
    ],
)
def test_suspended_server(sender25_emulator, flavour, data, time_is_null):
    sender25_emulator.flavour = flavour
    sender25_emulator.suspended = True
    body = call(sender25_emulator, SEND, VALID).json()
    assert body["data"] == data
    assert (body["time"] is None) is time_is_null
    sender25_emulator.suspended = False
    assert call(sender25_emulator, SEND, VALID).json()["status"] == "success"


def test_request_log_records_key_validity_but_never_the_key(sender25_emulator):
    call(sender25_emulator, SEND, VALID, api_key=None)
    call(sender25_emulator, SEND, VALID, api_key="wrong-key-value")
    call(sender25_emulator, SEND, VALID)
    assert [record.api_key_valid for record in sender25_emulator.requests] == [None, False, True]
    dumped = json.dumps([record.as_dict() for record in sender25_emulator.requests])
    assert sender25_emulator.api_key not in dumped
    assert "wrong-key-value" not in dumped


# -- 4. envelope --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flavour", "content_type", "cors", "decimals"),
    [("rails", "application/json; charset=utf-8", False, 3), ("moonrope", "application/json", True, 2)],
)
def test_envelope_shape_and_flavour_fingerprints(sender25_emulator, flavour, content_type, cors, decimals):
    sender25_emulator.flavour = flavour
    response = call(sender25_emulator, SEND, VALID)
    body = response.json()
    assert list(body) == ["status", "time", "flags", "data"]
    assert body["flags"] == {}
    assert isinstance(body["time"], float)
    assert round(body["time"], decimals) == body["time"]
    assert response.headers["Content-Type"] == content_type
    assert ("Access-Control-Allow-Origin" in response.headers) is cors
    assert "X-Request-Id" in response.headers


def test_json_escapes_html_characters_like_activesupport(sender25_emulator):
    message_id = send(sender25_emulator)["messages"]["ana@example.org"]["id"]
    response = call(sender25_emulator, MESSAGE, {"id": message_id, "_expansions": ["headers"]})
    assert "\\u003cnoreply@example.com\\u003e" in response.text
    assert response.json()["data"]["headers"]["from"] == ["Acme <noreply@example.com>"]


# -- 5. send/message ----------------------------------------------------------------------------


def test_send_message_success_shape(sender25_emulator):
    data = send(sender25_emulator, to=["Ana <ana@example.org>", "bo@example.org"])
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}@rp\.emulator\.test",
        data["message_id"],
    )
    assert list(data["messages"]) == ["ana@example.org", "bo@example.org"]
    assert [entry["id"] for entry in data["messages"].values()] == [1, 2]
    for entry in data["messages"].values():
        assert re.fullmatch(r"[A-Za-z0-9]{16}", entry["token"])


def test_one_message_per_recipient_entry_sharing_body_and_message_id(sender25_emulator):
    data = send(sender25_emulator, to=["ana@example.org"], cc=["cy@example.org"], bcc=["di@example.org"])
    sender25_emulator.advance(5)  # X-Postal-MsgID is added when each is processed
    stored = sender25_emulator.messages()
    assert [message.rcpt_to for message in stored] == ["ana@example.org", "cy@example.org", "di@example.org"]
    assert {message.message_id for message in stored} == {data["message_id"]}
    bodies = {message.raw.split(b"\r\n", 1)[1] for message in stored}  # all but X-Postal-MsgID
    assert len(bodies) == 1
    for message in stored:
        assert message.headers["X-Postal-MsgID"] == message.token
        assert message.headers["Message-ID"] == f"<{data['message_id']}>"
        assert message.headers["Received"].startswith("from api (127.0.0.1 [127.0.0.1])")
        assert "Bcc" not in message.headers
        assert message.mail_from == "noreply@example.com"


def test_duplicate_address_creates_two_messages_and_the_map_keeps_the_last(sender25_emulator):
    data = send(sender25_emulator, to=["ana@example.org"], cc=["Ana <ana@example.org>"])
    assert data["messages"] == {"ana@example.org": {"id": 2, "token": sender25_emulator.message(2).token}}
    assert len(sender25_emulator.messages()) == 2


def test_ids_are_per_server(sender25_emulator):
    sender25_emulator.add_server(api_key="other-key")
    send(sender25_emulator)
    body = call(sender25_emulator, SEND, VALID, api_key="other-key").json()
    assert body["data"]["messages"]["ana@example.org"]["id"] == 1
    assert len(sender25_emulator.messages()) == len(sender25_emulator.messages("other-key")) == 1
    assert sender25_emulator.messages()[0].token != sender25_emulator.messages("other-key")[0].token


@pytest.mark.parametrize(
    ("flavour", "outcome"),
    [
        ("rails", ["ana@example.org", "bo@example.org"]),
        ("moonrope", "`to` should be a `Array` but is a `String`"),
    ],
)
def test_comma_separated_recipients(sender25_emulator, flavour, outcome):
    sender25_emulator.flavour = flavour
    body = call(sender25_emulator, SEND, {**VALID, "to": "ana@example.org,  bo@example.org"}).json()
    if isinstance(outcome, list):
        assert list(body["data"]["messages"]) == outcome
    else:
        assert body == {
            "status": "parameter-error",
            "time": body["time"],
            "flags": {},
            "data": {"message": outcome},
        }


# The reference doc's error texts (§3), written out once.
TEXTS = {
    "NoRecipients": "There are no recipients defined to receive this message",
    "TooManyToAddresses": "The maximum number of To addresses has been reached (maximum 50)",
    "TooManyCCAddresses": "The maximum number of CC addresses has been reached (maximum 50)",
    "TooManyBCCAddresses": "The maximum number of BCC addresses has been reached (maximum 50)",
    "NoContent": "There is no content defined for this e-mail",
    "FromAddressMissing": "The From address is missing and is required",
    "UnauthenticatedFromAddress": "The From address is not authorised to send mail from this server",
    "AttachmentMissingName": "An attachment is missing a name",
    "AttachmentMissingData": "An attachment is missing data",
}
FIFTY_ONE = [f"u{i}@example.org" for i in range(51)]


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"to": None}, "NoRecipients"),
        ({"to": None, "plain_body": None}, "NoRecipients"),
        ({"to": FIFTY_ONE}, "TooManyToAddresses"),
        ({"cc": FIFTY_ONE}, "TooManyCCAddresses"),
        ({"bcc": FIFTY_ONE}, "TooManyBCCAddresses"),
        ({"plain_body": "  "}, "NoContent"),
        ({"from": None, "plain_body": None}, "NoContent"),
        ({"from": ""}, "FromAddressMissing"),
        ({"from": "x@other.org"}, "UnauthenticatedFromAddress"),
        ({"from": "x@mail.example.com"}, "UnauthenticatedFromAddress"),  # subdomains are not implied
        ({"attachments": [{"data": "YQ=="}]}, "AttachmentMissingName"),
        ({"attachments": [{"name": "a.txt", "data": "ICAK"}]}, "AttachmentMissingData"),  # decodes to "  \n"
        (
            {"attachments": [{"name": "a", "data": "!!"}, {"name": "", "data": "YQ=="}]},
            "AttachmentMissingData",
        ),
    ],
)
@pytest.mark.parametrize("flavour", ["rails", "moonrope"])
def test_send_message_validation_returns_the_first_error_only(sender25_emulator, flavour, overrides, code):
    sender25_emulator.flavour = flavour
    payload = {key: value for key, value in {**VALID, **overrides}.items() if value is not None}
    body = call(sender25_emulator, SEND, payload).json()
    assert (body["status"], body["data"]["code"], body["data"]["message"]) == ("error", code, TEXTS[code])
    assert sender25_emulator.messages() == []


@pytest.mark.parametrize(
    ("settings", "params", "status"),
    [
        ({"use_for_any": True}, {"from": "x@anything.org"}, "success"),
        ({"use_for_any": True}, {"from": "no-domain"}, "error"),
        ({"allow_sender": True}, {"from": "x@other.org", "sender": "ops@example.com"}, "success"),
        ({}, {"from": "x@other.org", "sender": "ops@example.com"}, "error"),
        ({"verified_domains": ("Example.COM",)}, {"from": "x@example.com"}, "success"),
    ],
)
def test_from_domain_authorisation(make_emulator, settings, params, status):
    emu = make_emulator(**settings)
    assert call(emu, SEND, {**VALID, **params}).json()["status"] == status


@pytest.mark.parametrize(
    ("flavour", "bounce", "stored"),
    [
        ("rails", "false", True),
        ("rails", 0, True),
        ("rails", False, False),
        ("rails", None, False),
        ("moonrope", "false", False),
        ("moonrope", "1", True),
        ("moonrope", 0, False),
    ],
)
def test_bounce_truthiness_per_flavour(sender25_emulator, flavour, bounce, stored):
    sender25_emulator.flavour = flavour
    send(sender25_emulator, bounce=bounce)
    assert sender25_emulator.messages()[0].bounce is stored


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"to": "ana@example.org", "from": 5}, "`to` should be a `Array` but is a `String`"),
        ({"from": 5}, "`from` should be a `String` but is a `Integer`"),
        ({"subject": ["x"]}, "`subject` should be a `String` but is a `Array`"),
        ({"attachments": "x"}, "`attachments` should be a `Array` but is a `String`"),
        ({"headers": ["x"]}, "`headers` should be a `Hash` but is a `Array`"),
        ({"bounce": "yes"}, "`bounce` should be a boolean value"),
    ],
)
def test_moonrope_parameter_type_errors_in_declaration_order(sender25_emulator, params, message):
    sender25_emulator.flavour = "moonrope"
    body = call(sender25_emulator, SEND, {**VALID, **params}).json()
    assert (body["status"], body["data"]) == ("parameter-error", {"message": message})


@pytest.mark.parametrize(
    "params",
    [{"from": 5}, {"attachments": "x"}, {"attachments": [{"name": "a", "data": 5}]}, {"to": [5]}],
)
def test_rails_crashes_with_http_500_on_unexpected_types(sender25_emulator, params):
    html = call(sender25_emulator, SEND, {**VALID, **params})
    assert html.status_code == 500
    assert "We're sorry, but something went wrong." in html.text
    as_json = call(sender25_emulator, SEND, {**VALID, **params}, headers={"Accept": "application/json"})
    assert (as_json.status_code, as_json.json()) == (500, {"status": 500, "error": "Internal Server Error"})
    assert sender25_emulator.messages() == []


def test_moonrope_crashes_with_its_json_500_on_unusable_attachment_data(sender25_emulator):
    sender25_emulator.flavour = "moonrope"
    response = call(sender25_emulator, SEND, {**VALID, "attachments": [{"name": "a", "data": 5}]})
    assert (response.status_code, response.json()) == (500, {"status": "internal-server-error"})


def test_rails_ignores_headers_that_are_not_an_object(sender25_emulator):
    assert call(sender25_emulator, SEND, {**VALID, "headers": ["X-A: 1"]}).json()["status"] == "success"


def test_attachments_are_decoded_leniently_and_non_objects_skipped(sender25_emulator):
    noisy = "YSxi\nCjEs*Mgo="  # "a,b\n1,2\n" with a newline and a stray character
    send(
        sender25_emulator,
        attachments=[
            "junk",
            {"name": "r.csv", "content_type": "text/csv", "data": noisy},
            {"name": "blob.bin", "data": b64(b"\x00\x01")},
        ],
    )
    assert sender25_emulator.messages()[0].attachments == [
        ("r.csv", "text/csv", b"a,b\n1,2\n"),
        ("blob.bin", "application/octet-stream", b"\x00\x01"),
    ]


def test_custom_headers_are_applied_then_overridden_by_parameters(sender25_emulator):
    send(
        sender25_emulator,
        headers={"X-Trace": 42, "Subject": "custom", "Reply-To": "x@y.org", "X-Postal-Tag": "nightly"},
    )
    sender25_emulator.advance(5)  # X-Postal-Tag is read when the message is processed
    message = sender25_emulator.messages()[0]
    assert message.headers["X-Trace"] == "42"
    assert message.headers.get_all("Subject") == ["Report"]
    assert message.headers["Reply-To"] is None  # the param is absent, so the custom value goes
    assert message.tag == "nightly"  # X-Postal-Tag stands in for an empty tag


def test_tag_parameter_wins_over_x_postal_tag(sender25_emulator):
    send(sender25_emulator, tag="airflow", headers={"X-Postal-Tag": "nightly"})
    assert sender25_emulator.messages()[0].tag == "airflow"


@pytest.mark.parametrize(
    ("params", "plain", "html"),
    [
        ({}, "Hi", None),
        ({"plain_body": None, "html_body": "<p>Hi</p>"}, None, "<p>Hi</p>"),
        ({"html_body": "<p>Hi</p>"}, "Hi", "<p>Hi</p>"),
        ({"attachments": [{"name": "a.txt", "data": "YQ=="}]}, "Hi", None),
    ],
)
def test_bodies_read_back_whatever_the_mime_structure(sender25_emulator, params, plain, html):
    send(sender25_emulator, **params)
    message = sender25_emulator.messages()[0]
    assert message.headers.get_content_type() == "multipart/mixed"  # Postal's structure, always
    assert (message.plain_body, message.html_body) == (plain, html)


def test_display_name_is_stripped_for_the_envelope_only(sender25_emulator):
    send(sender25_emulator, to=["Ana Lima <ana@example.org>"])
    message = sender25_emulator.messages()[0]
    assert message.rcpt_to == "ana@example.org"
    assert message.headers["To"] == "Ana Lima <ana@example.org>"


# -- 6. send/raw --------------------------------------------------------------------------------


def test_raw_send_stores_bytes_unchanged_and_dedupes_exact_recipients(sender25_emulator):
    raw = rfc822()
    body = call(
        sender25_emulator,
        RAW,
        {
            "mail_from": "app@example.com",
            "data": b64(raw),
            "rcpt_to": ["ana@example.org", "ana@example.org", "ANA@example.org"],
        },
    ).json()
    assert body["data"]["message_id"] == "abc-1@app.example.org"
    assert list(body["data"]["messages"]) == ["ana@example.org", "ANA@example.org"]
    stored = sender25_emulator.messages()
    assert [message.raw for message in stored] == [raw, raw]
    assert stored[0].mail_from == "app@example.com"


def test_raw_send_without_message_id_reports_null(sender25_emulator):
    data = {"mail_from": "app@example.com", "rcpt_to": ["ana@example.org"], "data": b64(rfc822(extra=""))}
    assert call(sender25_emulator, RAW, data).json()["data"]["message_id"] is None


def test_raw_send_with_no_recipients_succeeds_with_nothing(sender25_emulator):
    data = {"mail_from": "app@example.com", "rcpt_to": [], "data": b64(rfc822())}
    assert call(sender25_emulator, RAW, data).json()["data"] == {"message_id": None, "messages": {}}


@pytest.mark.parametrize(
    ("flavour", "params", "message"),
    [
        ("rails", {}, "`rcpt_to` parameter is required but is missing"),
        ("rails", {"rcpt_to": "a@b.c", "data": "eA=="}, "`rcpt_to` parameter is required but is missing"),
        ("rails", {"rcpt_to": []}, "`mail_from` parameter is required but is missing"),
        (
            "rails",
            {"rcpt_to": [], "mail_from": "a@example.com"},
            "`data` parameter is required but is missing",
        ),
        ("moonrope", {}, "`mail_from` parameter is required but is missing"),
        (
            "moonrope",
            {"mail_from": "a@example.com", "rcpt_to": "x"},
            "`rcpt_to` should be a `Array` but is a `String`",
        ),
        (
            "moonrope",
            {"mail_from": "a@example.com", "rcpt_to": []},
            "`data` parameter is required but is missing",
        ),
    ],
)
def test_raw_send_parameter_checks_in_flavour_order(sender25_emulator, flavour, params, message):
    sender25_emulator.flavour = flavour
    body = call(sender25_emulator, RAW, params).json()
    assert (body["status"], body["data"]) == ("parameter-error", {"message": message})


@pytest.mark.parametrize(
    "data",
    [
        b64(rfc822("x@other.org")),
        b64(rfc822("a@example.com, b@other.org")),
        b64(b"Subject: no from\r\n\r\nBody"),
        "!!!not base64!!!",
    ],
)
@pytest.mark.parametrize(
    ("flavour", "error"),
    [
        ("rails", {"code": "UnauthenticatedFromAddress"}),
        (
            "moonrope",
            {
                "code": "UnauthenticatedFromAddress",
                "message": TEXTS["UnauthenticatedFromAddress"],
            },
        ),
    ],
)
def test_raw_send_requires_every_from_address_authorised(sender25_emulator, data, flavour, error):
    sender25_emulator.flavour = flavour
    body = call(
        sender25_emulator, RAW, {"mail_from": "a@example.com", "rcpt_to": ["a@b.org"], "data": data}
    ).json()
    assert (body["status"], body["data"]) == ("error", error)


def test_raw_send_accepts_an_authorised_sender_when_allowed(make_emulator):
    emu = make_emulator(allow_sender=True)
    raw = rfc822("x@other.org", extra="Sender: ops@example.com\r\n")
    body = call(emu, RAW, {"mail_from": "ops@example.com", "rcpt_to": ["a@b.org"], "data": b64(raw)}).json()
    assert body["status"] == "success"


@pytest.mark.parametrize(("flavour", "bounce"), [("rails", False), ("moonrope", None)])
def test_raw_send_without_bounce_param(sender25_emulator, flavour, bounce):
    sender25_emulator.flavour = flavour
    data = {"mail_from": "app@example.com", "rcpt_to": ["ana@example.org"], "data": b64(rfc822())}
    message_id = call(sender25_emulator, RAW, data).json()["data"]["messages"]["ana@example.org"]["id"]
    details = call(sender25_emulator, MESSAGE, {"id": message_id, "_expansions": ["details"]}).json()["data"]
    assert details["details"]["bounce"] is bounce


# -- 7. messages/message ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flavour", "params", "status", "data"),
    [
        ("rails", {}, "parameter-error", {"message": "`id` parameter is required but is missing"}),
        ("rails", {"id": ""}, "parameter-error", {"message": "`id` parameter is required but is missing"}),
        ("rails", {"id": False}, "parameter-error", {"message": "`id` parameter is required but is missing"}),
        (
            "rails",
            {"id": 999},
            "error",
            {"message": "No message found matching provided ID", "id": 999, "code": "MessageNotFound"},
        ),
        (
            "moonrope",
            {"id": None},
            "parameter-error",
            {"message": "`id` parameter is required but is missing"},
        ),
        (
            "moonrope",
            {"id": "1"},
            "parameter-error",
            {"message": "`id` should be a `Integer` but is a `String`"},
        ),
        (
            "moonrope",
            {"id": 1.5},
            "parameter-error",
            {"message": "`id` should be a `Integer` but is a `Float`"},
        ),
        (
            "moonrope",
            {"id": 999},
            "error",
            {"code": "MessageNotFound", "message": "No message found matching provided ID", "id": 999},
        ),
    ],
)
@pytest.mark.parametrize("path", [MESSAGE, DELIVERIES])
def test_message_id_rules(sender25_emulator, path, flavour, params, status, data):
    sender25_emulator.flavour = flavour
    body = call(sender25_emulator, path, params).json()
    assert body["status"] == status
    assert list(body["data"].items()) == list(data.items())


@pytest.mark.parametrize("message_id", ["1", 1.0])
def test_rails_answers_500_for_a_non_integer_id(sender25_emulator, message_id):
    send(sender25_emulator)
    assert call(sender25_emulator, MESSAGE, {"id": message_id, "_expansions": []}).status_code == 500


def test_message_ids_are_scoped_to_the_key(sender25_emulator):
    sender25_emulator.add_server(api_key="other-key")
    send(sender25_emulator)
    body = call(sender25_emulator, MESSAGE, {"id": 1, "_expansions": []}, api_key="other-key").json()
    assert body["data"]["code"] == "MessageNotFound"


@pytest.mark.parametrize(
    ("flavour", "expansions", "keys"),
    [
        ("rails", [], []),
        ("rails", ["headers", "status", "bogus"], ["status", "headers"]),
        ("rails", True, ALL_EXPANSIONS),
        ("rails", "omit", []),
        ("rails", "status", []),
        ("moonrope", True, ALL_EXPANSIONS),
        ("moonrope", ["details"], ["details"]),
        ("rails-3.3.1", ["details"], ["details"]),
        ("rails-3.3.1", "status,details", ["status", "details"]),
    ],
)
def test_expansion_selection(sender25_emulator, flavour, expansions, keys):
    sender25_emulator.flavour = flavour
    send(sender25_emulator)
    params = {"id": 1} if expansions == "omit" else {"id": 1, "_expansions": expansions}
    data = call(sender25_emulator, MESSAGE, params).json()["data"]
    assert list(data) == ["id", "token", *keys]


@pytest.mark.parametrize("expansions", ["omit", None, True, False])
def test_rails_3_3_1_crashes_unless_expansions_is_an_array_or_string(sender25_emulator, expansions):
    sender25_emulator.flavour = "rails-3.3.1"
    send(sender25_emulator)
    params = {"id": 1} if expansions == "omit" else {"id": 1, "_expansions": expansions}
    assert call(sender25_emulator, MESSAGE, params).status_code == 500


def test_expanded_message_field_types(sender25_emulator):
    attachment = bytes(range(256)) * 2
    send(
        sender25_emulator,
        html_body="<p>Hi</p>",
        tag="nightly",
        attachments=[{"name": "blob.bin", "content_type": "application/pdf", "data": b64(attachment)}],
    )
    data = call(sender25_emulator, MESSAGE, {"id": 1, "_expansions": True}).json()["data"]
    stored = sender25_emulator.message(1)
    assert data["status"] == {
        "status": "Pending",
        "last_delivery_attempt": None,
        "held": False,
        "hold_expiry": None,
    }
    details = data["details"]
    assert details == {
        "rcpt_to": "ana@example.org",
        "mail_from": "noreply@example.com",
        "subject": "Report",
        "message_id": stored.message_id,
        "timestamp": stored.timestamp,
        "direction": "outgoing",
        "size": str(len(stored.raw)),
        "bounce": False,
        "bounce_for_id": 0,
        "tag": "nightly",
        "received_with_ssl": True,
    }
    assert data["inspection"] == {
        "inspected": False,
        "spam": False,
        "spam_score": 0.0,
        "threat": False,
        "threat_details": None,
    }
    assert (data["plain_body"], data["html_body"]) == ("Hi", "<p>Hi</p>")
    [entry] = data["attachments"]
    assert entry["filename"] == "blob.bin"
    assert entry["content_type"] == "application/pdf"
    assert entry["size"] == len(attachment)
    assert entry["hash"] == hashlib.sha1(attachment).hexdigest()
    assert base64.b64decode(entry["data"]) == attachment
    assert_mime_base64(entry["data"])
    assert_mime_base64(data["raw_message"])
    assert base64.b64decode(data["raw_message"]) == stored.raw
    assert "x-postal-msgid" not in data["headers"]  # added when the message is processed
    assert data["headers"]["subject"] == ["Report"]
    assert data["activity_entries"] == {"loads": [], "clicks": []}


def assert_mime_base64(text: str) -> None:
    lines = text.split("\n")
    assert lines[-1] == ""  # trailing newline
    assert all(len(line) == 60 for line in lines[:-2])
    assert 0 < len(lines[-2]) <= 60


def test_raw_message_without_subject_reports_empty_subject(sender25_emulator):
    raw = b"From: app@example.com\r\nTo: ana@example.org\r\n\r\nBody\r\n"
    call(sender25_emulator, RAW, {"mail_from": "app@example.com", "rcpt_to": ["a@b.org"], "data": b64(raw)})
    details = call(sender25_emulator, MESSAGE, {"id": 1, "_expansions": ["details"]}).json()["data"][
        "details"
    ]
    assert (details["subject"], details["message_id"], details["tag"]) == ("", None, None)


# -- 8. messages/deliveries, 9. lifecycle -------------------------------------------------------


def test_deliveries_are_empty_while_pending_then_report_the_attempt(sender25_emulator):
    send(sender25_emulator)
    assert call(sender25_emulator, DELIVERIES, {"id": 1}).json()["data"] == []
    sender25_emulator.advance(1)
    [row] = call(sender25_emulator, DELIVERIES, {"id": 1}).json()["data"]
    assert list(row) == ["id", "status", "details", "output", "sent_with_ssl", "log_id", "time", "timestamp"]
    assert row["status"] == "Sent"
    assert row["details"].startswith("Message for ana@example.org accepted by ")
    assert row["output"].startswith("250 ")
    assert row["sent_with_ssl"] is True
    assert re.fullmatch(r"[A-Z0-9]{8}", row["log_id"])
    assert round(row["time"], 2) == row["time"]
    assert row["timestamp"] == pytest.approx(sender25_emulator.message(1).timestamp + 0.5)


@pytest.mark.parametrize(
    ("recipient", "statuses"),
    [
        ("ana@example.org", ["Sent"]),
        ("ana+hardfail@example.org", ["HardFail"]),
        ("ana+softfail@example.org", ["SoftFail", "SoftFail", "Sent"]),
        ("ana+error@example.org", ["Error", "Sent"]),
        ("ana+bounce@example.org", ["Sent", "Bounced"]),
        ("ana+held@example.org", ["Held"]),
    ],
)
def test_recipient_tags_script_the_delivery_rows(sender25_emulator, recipient, statuses):
    send(sender25_emulator, to=[recipient])
    sender25_emulator.advance(60)
    rows = call(sender25_emulator, DELIVERIES, {"id": 1}).json()["data"]
    assert [row["status"] for row in rows] == statuses
    assert [row["timestamp"] for row in rows] == sorted(row["timestamp"] for row in rows)
    status = call(sender25_emulator, MESSAGE, {"id": 1, "_expansions": ["status"]}).json()["data"]["status"]
    assert status["status"] == statuses[-1]
    assert status["last_delivery_attempt"] == rows[-1]["timestamp"]


def test_hardfail_output_names_the_recipient(sender25_emulator):
    send(sender25_emulator, to=["bo+hardfail@example.org"])
    sender25_emulator.advance(1)
    [row] = sender25_emulator.message(1).deliveries
    assert row.output == "550 5.1.1 <bo+hardfail@example.org>: Recipient address rejected: User unknown"


def test_softfail_retries_follow_the_clock(make_emulator):
    emu = make_emulator(delivery_delay=1, retry_interval=10, softfail_attempts=2)
    send(emu, to=["ana+softfail@example.org"])
    observed = []
    for step in (0.5, 1, 10, 10):
        emu.advance(step)
        observed.append(emu.message(1).status)
    assert observed == ["Pending", "SoftFail", "SoftFail", "Sent"]
    softfail = emu.message(1).deliveries[0]
    assert softfail.output == "451 4.7.1 Greylisted, try again later"


def test_bounce_arrives_bounce_delay_after_sent(make_emulator):
    emu = make_emulator(delivery_delay=1, bounce_delay=30)
    send(emu, to=["ana+bounce@example.org"])
    emu.advance(2)
    assert emu.message(1).status == "Sent"
    emu.advance(30)
    assert emu.message(1).status == "Bounced"


def test_held_message_reports_hold_expiry_and_is_cancelled_when_it_expires(make_emulator):
    emu = make_emulator(hold_expiry_delay=100)
    send(emu, to=["ana+held@example.org"])
    emu.advance(1)
    status = call(emu, MESSAGE, {"id": 1, "_expansions": ["status"]}).json()["data"]["status"]
    assert status["held"] is True
    assert status["hold_expiry"] == pytest.approx(status["last_delivery_attempt"] + 7 * 24 * 3600)
    emu.advance(100)
    status = call(emu, MESSAGE, {"id": 1, "_expansions": ["status"]}).json()["data"]["status"]
    assert (status["status"], status["held"], status["hold_expiry"]) == ("HoldCancelled", False, None)


def test_released_message_is_sent_instead_of_cancelled(make_emulator):
    emu = make_emulator(hold_expiry_delay=100)
    send(emu, to=["ana+held@example.org"])
    emu.advance(1)
    emu.release(1)
    emu.advance(200)
    assert [row.status for row in emu.message(1).deliveries] == ["Held", "Sent"]


def test_only_a_held_message_can_be_released(sender25_emulator):
    send(sender25_emulator)
    with pytest.raises(ValueError, match="Pending"):
        sender25_emulator.release(1)


# -- 11. faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "options", "status", "header", "marker"),
    [
        (Fault.HTTP_502, {}, 502, ("Content-Type", "text/html"), "502 Bad Gateway"),
        (Fault.HTTP_503, {}, 503, ("Content-Type", "text/html"), "503 Service Temporarily Unavailable"),
        (Fault.HTTP_429, {"retry_after": 7}, 429, ("Retry-After", "7"), "429 Too Many Requests"),
        (Fault.HTTP_413, {}, 413, ("Connection", "close"), "413 Request Entity Too Large"),
        (Fault.REDIRECT_301, {}, 301, ("Location", "https://127.0.0.1/api/v1/send/message"), "301 Moved"),
        (Fault.REDIRECT_308, {}, 308, ("Location", "https://127.0.0.1/api/v1/send/message"), ""),
        (Fault.NON_JSON_200, {}, 200, ("Content-Type", "text/html; charset=utf-8"), "<html>"),
        (Fault.INVALID_JSON, {}, 400, ("Access-Control-Allow-Origin", "*"), '"status":"invalid-json"'),
    ],
)
def test_faults_in_front_of_the_app_store_nothing(sender25_emulator, fault, options, status, header, marker):
    sender25_emulator.inject(fault, **options)
    response = call(sender25_emulator, SEND, VALID, allow_redirects=False)
    assert response.status_code == status
    assert response.headers[header[0]] == header[1]
    assert marker in response.text
    [record] = sender25_emulator.requests
    assert (record.fault, record.reached_app, record.http_status) == (fault.name, False, status)
    assert sender25_emulator.messages() == []
    assert sender25_emulator.accepted_sends() == []


@pytest.mark.parametrize(
    ("fault", "status", "body"),
    [
        (Fault.HTTP_500_HTML, 500, "We're sorry, but something went wrong."),
        (Fault.HTTP_500_JSON_RAILS, 500, '{"status":500,"error":"Internal Server Error"}'),
        (Fault.HTTP_500_JSON_MOONROPE, 500, '{"status":"internal-server-error"}'),
        (Fault.HTTP_504, 504, "504 Gateway Time-out"),
    ],
)
def test_faults_behind_the_app_still_store_the_send(sender25_emulator, fault, status, body):
    sender25_emulator.inject(fault)
    response = call(sender25_emulator, SEND, VALID)
    assert response.status_code == status
    assert body in response.text
    [record] = sender25_emulator.accepted_sends()
    assert (record.reached_app, record.http_status, record.api_status) == (True, status, None)
    assert record.stored_message_ids == [1]


def test_truncated_json_is_processed_and_answers_half_a_body(sender25_emulator):
    sender25_emulator.inject(Fault.TRUNCATED_JSON)
    response = call(sender25_emulator, SEND, VALID)
    assert response.status_code == 200
    with pytest.raises(requests.JSONDecodeError):
        response.json()
    assert response.text.startswith('{"status":"success"')
    assert len(sender25_emulator.messages()) == 1


def test_reset_after_body_stores_the_message_but_never_answers(sender25_emulator):
    sender25_emulator.inject(Fault.RESET_AFTER_BODY)
    with pytest.raises(requests.ConnectionError):
        call(sender25_emulator, SEND, VALID)
    [record] = sender25_emulator.requests
    assert (record.reached_app, record.http_status, record.stored_message_ids) == (True, None, [1])
    assert len(sender25_emulator.accepted_sends()) == 1


def test_reset_before_body_never_reaches_the_app(sender25_emulator):
    sender25_emulator.inject(Fault.RESET_BEFORE_BODY)
    with pytest.raises(requests.ConnectionError):
        call(sender25_emulator, SEND, VALID)
    [record] = sender25_emulator.requests
    assert (record.reached_app, record.http_status, record.params) == (False, None, None)
    assert sender25_emulator.messages() == []


def test_slow_answer_times_out_the_client_after_the_send_happened(sender25_emulator):
    sender25_emulator.inject(Fault.SLOW, delay=0.4)
    with pytest.raises(requests.ReadTimeout):
        requests.post(
            f"{sender25_emulator.base_url}/api/v1/{SEND}",
            json=VALID,
            timeout=0.1,
            headers={"X-Server-API-Key": sender25_emulator.api_key},
        )
    assert len(sender25_emulator.messages()) == 1


def test_slow_answer_arrives_intact_after_the_delay(sender25_emulator):
    sender25_emulator.inject("slow", delay=0.2)
    started = time.monotonic()
    assert call(sender25_emulator, SEND, VALID).json()["status"] == "success"
    assert time.monotonic() - started >= 0.2
    assert sender25_emulator.requests[0].api_status == "success"


def test_a_fault_hits_count_requests_then_service_resumes(sender25_emulator):
    sender25_emulator.inject(Fault.HTTP_503, count=2)
    statuses = [call(sender25_emulator, SEND, VALID).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]


def test_admin_requests_are_never_faulted_nor_logged(sender25_emulator):
    sender25_emulator.inject(Fault.HTTP_503)
    assert admin(sender25_emulator, "GET", "health").status_code == 200
    assert sender25_emulator.requests == []
    assert call(sender25_emulator, SEND, VALID).status_code == 503


def test_unknown_fault_and_option_are_refused(sender25_emulator):
    with pytest.raises(ValueError, match="unknown fault"):
        sender25_emulator.inject("HTTP_418")
    with pytest.raises(ValueError, match="takes no option"):
        sender25_emulator.inject(Fault.HTTP_502, delay=1)


# -- admin interface ----------------------------------------------------------------------------


def test_admin_health_describes_the_emulator(sender25_emulator):
    health = admin(sender25_emulator, "GET", "health").json()
    assert (health["status"], health["service"], health["flavour"]) == ("ok", "sender25", "rails")
    assert health["base_url"] == sender25_emulator.base_url


def test_admin_lists_requests_and_messages(sender25_emulator):
    send(sender25_emulator, attachments=[{"name": "a.txt", "data": b64(b"abc")}])
    [record] = admin(sender25_emulator, "GET", "requests").json()
    assert (record["path"], record["api_status"], record["stored_message_ids"]) == (
        "/api/v1/send/message",
        "success",
        [1],
    )
    [message] = admin(sender25_emulator, "GET", "messages").json()
    assert (message["id"], message["rcpt_to"], message["status"]) == (1, "ana@example.org", "Pending")
    assert message["headers"]["Subject"] == "Report"
    assert message["attachments"] == [
        {"filename": "a.txt", "content_type": "application/octet-stream", "size": 3}
    ]


def test_admin_injects_faults_and_advances_the_clock(sender25_emulator):
    assert admin(sender25_emulator, "POST", "faults", {"fault": "HTTP_429", "count": 1, "retry_after": 3}).ok
    response = call(sender25_emulator, SEND, VALID)
    assert (response.status_code, response.headers["Retry-After"]) == (429, "3")
    send(sender25_emulator)
    assert admin(sender25_emulator, "POST", "advance", {"seconds": 5}).json()["clock_offset"] == 5
    assert sender25_emulator.message(1).status == "Sent"


def test_admin_rejects_a_bad_fault_with_400(sender25_emulator):
    assert admin(sender25_emulator, "POST", "faults", {"fault": "nope"}).status_code == 400


def test_admin_release_and_config(sender25_emulator):
    send(sender25_emulator, to=["ana+held@example.org"])
    admin(sender25_emulator, "POST", "advance", {"seconds": 1})
    assert admin(sender25_emulator, "POST", "release", {"id": 1}).ok
    admin(sender25_emulator, "POST", "config", {"flavour": "moonrope", "suspended": True})
    assert (sender25_emulator.flavour, sender25_emulator.suspended) == ("moonrope", True)


def test_reset_clears_state_but_keeps_the_port(sender25_emulator):
    port = sender25_emulator.port
    send(sender25_emulator)
    sender25_emulator.inject(Fault.HTTP_503)
    sender25_emulator.advance(100)
    assert admin(sender25_emulator, "POST", "reset").ok
    assert (sender25_emulator.messages(), sender25_emulator.requests) == ([], [])
    assert send(sender25_emulator)["messages"]["ana@example.org"]["id"] == 1  # fault gone, ids restart
    assert sender25_emulator.port == port
    assert admin(sender25_emulator, "GET", "health").json()["clock_offset"] == 0


# -- Python API, plugin, CLI --------------------------------------------------------------------


def test_airflow_connection_json(sender25_emulator):
    connection = json.loads(sender25_emulator.airflow_connection(timeout=3))
    assert connection == {
        "conn_type": "sender25",
        "host": "127.0.0.1",
        "port": sender25_emulator.port,
        "schema": "http",
        "password": "test-api-key",
        "extra": {"timeout": 3},
    }
    assert "extra" not in json.loads(sender25_emulator.airflow_connection())


def test_airflow_conn_fixture_sets_the_environment(sender25_airflow_conn):
    import os

    assert os.environ["AIRFLOW_CONN_SENDER25_DEFAULT"] == sender25_airflow_conn.airflow_connection()


def test_unknown_flavour_is_refused(sender25_emulator):
    with pytest.raises(ValueError, match="unknown flavour"):
        sender25_emulator.flavour = "postal-4"


def test_context_manager_starts_and_stops():
    with Sender25Emulator() as emu:
        assert admin(emu, "GET", "health").ok
    with pytest.raises(requests.ConnectionError):
        admin(emu, "GET", "health")


def test_cli_serves_until_sigterm(tmp_path: Path):
    ready = tmp_path / "sender25.url"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_mail.testing",
            "sender25",
            "--port",
            "0",
            "--flavour",
            "moonrope",
            "--domain",
            "acme.example",
            "--ready-file",
            str(ready),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert process.poll() is None, "the emulator exited early"
            assert time.monotonic() < deadline, "the emulator never became ready"
            time.sleep(0.05)
        url = ready.read_text().strip()
        assert requests.get(f"{url}/_emulator/health", timeout=5).json()["flavour"] == "moonrope"
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert stdout.splitlines()[0] == f"sender25 emulator listening on {url}"
