"""Where the Sender25 emulator follows Postal's own code rather than its documentation: each test
names the Postal source file (postalserver/postal) whose behaviour it pins, and drives the
emulator over real HTTP."""

from __future__ import annotations

import base64
from email import message_from_bytes, policy
from typing import Any

import pytest

from airflow_provider_mail.testing import Sender25Emulator

from .test_sender25_emulator import DELIVERIES, MESSAGE, RAW, SEND, VALID, b64, call, send


def expand(emu: Sender25Emulator, message_id: int, *names: str) -> dict[str, Any]:
    """``messages/message`` with the given expansions; returns ``data``."""
    body = call(emu, MESSAGE, {"id": message_id, "_expansions": list(names)}).json()
    assert body["status"] == "success", body
    return body["data"]


def rows(emu: Sender25Emulator, message_id: int) -> list[dict[str, Any]]:
    body = call(emu, DELIVERIES, {"id": message_id}).json()
    assert body["status"] == "success", body
    return body["data"]


# -- app/models/outgoing_message_prototype.rb: attachments ------------------------------------


def test_attachment_content_type_parameters_are_kept(sender25_emulator):
    csv = "número;total\n1;2\n".encode()
    send(
        sender25_emulator,
        attachments=[{"name": "r.csv", "content_type": 'text/csv; charset="utf-8"', "data": b64(csv)}],
    )
    raw = sender25_emulator.messages()[0].raw
    [part] = [p for p in message_from_bytes(raw, policy=policy.default).walk() if p.get_filename()]
    assert part.get_content_type() == "text/csv"
    assert part.get_param("charset") == "utf-8"
    assert part.get_content_disposition() == "attachment"
    [entry] = expand(sender25_emulator, 1, "attachments")["attachments"]
    # Mail's Part#mime_type: the type without its parameters.
    assert (entry["filename"], entry["content_type"]) == ("r.csv", "text/csv")
    assert base64.b64decode(entry["data"]) == csv


@pytest.mark.parametrize(
    ("attachment", "code"),
    [
        ({"name": "a.txt", "data": None}, "AttachmentMissingData"),
        ({"name": "a.txt"}, "AttachmentMissingData"),
        ({"data": None}, "AttachmentMissingName"),
        ({}, "AttachmentMissingName"),
        ({"name": None, "content_type": "text/plain"}, "AttachmentMissingName"),
    ],
)
@pytest.mark.parametrize("flavour", ["rails", "moonrope"])
def test_attachment_without_data_is_a_validation_error_not_a_crash(
    sender25_emulator, flavour, attachment, code
):
    sender25_emulator.flavour = flavour
    response = call(sender25_emulator, SEND, {**VALID, "attachments": [attachment]})
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["data"]["code"]) == ("error", code)
    assert sender25_emulator.messages() == []


# -- lib/postal/helpers.rb: strip_name_from_address --------------------------------------------


def test_address_comments_are_stripped_like_names(make_emulator):
    emu = make_emulator(verified_domains=("acme.example",))
    data = send(
        emu,
        **{"from": "noreply@acme.example (Acme Billing)", "to": ["ana@example.org (Ana)"]},
    )
    assert list(data["messages"]) == ["ana@example.org"]
    message = emu.messages()[0]
    assert (message.mail_from, message.rcpt_to) == ("noreply@acme.example", "ana@example.org")
    assert b"\r\nFrom: noreply@acme.example (Acme Billing)\r\n" in message.raw  # the header is kept


def test_raw_send_authorises_a_from_with_a_comment(make_emulator):
    emu = make_emulator(verified_domains=("acme.example",))
    raw = b"From: noreply@acme.example (Acme Billing)\r\nTo: ana@example.org\r\nSubject: x\r\n\r\nBody\r\n"
    body = call(emu, RAW, {"mail_from": "noreply@acme.example", "rcpt_to": ["a@b.org"], "data": b64(raw)})
    assert body.json()["status"] == "success", body.json()


# -- app/models/outgoing_message_prototype.rb#raw_message (Mail gem) ---------------------------


@pytest.mark.parametrize(
    ("params", "inner"),
    [
        ({}, ["text/plain"]),
        ({"plain_body": None, "html_body": "<p>Hi</p>"}, ["text/html"]),
        ({"html_body": "<p>Hi</p>"}, ["text/plain", "text/html"]),
    ],
)
def test_send_message_is_mixed_around_alternative(sender25_emulator, params, inner):
    attachments = [{"name": "a.txt", "data": "YQ=="}]
    send(sender25_emulator, attachments=attachments, **params)
    send(sender25_emulator, **params)
    with_attachment, without = (message.headers for message in sender25_emulator.messages())
    for parsed, extra in ((with_attachment, ["application/octet-stream"]), (without, [])):
        assert parsed.get_content_type() == "multipart/mixed"
        alternative, *rest = parsed.iter_parts()
        assert alternative.get_content_type() == "multipart/alternative"
        assert [part.get_content_type() for part in alternative.iter_parts()] == inner
        assert [part.get_content_type() for part in rest] == extra


def test_custom_headers_come_after_the_message_and_mime_headers(sender25_emulator):
    send(sender25_emulator, headers={"X-Trace": "t1", "X_Campaign": "c9", "In-Reply-To": "<a@b>"})
    raw = sender25_emulator.messages()[0].raw
    names = [line.split(b":", 1)[0].decode() for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")]
    names = [name for name in names if name and not name[0].isspace()]
    # Mail's FIELD_ORDER: known fields in its order, unknown (custom) ones after all of them.
    assert names == [
        "Received",
        "Date",
        "From",
        "To",
        "Message-ID",
        "In-Reply-To",
        "Subject",
        "Mime-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
        "X-Trace",
        "X-Campaign",  # Mail dasherizes header names
    ]


# -- lib/postal/message_db/message.rb#copy_attributes_from_raw_message -------------------------


def test_subject_is_an_empty_string_without_a_subject_header(sender25_emulator):
    raw = b"From: app@example.com\r\nTo: ana@example.org\r\n\r\nBody\r\n"
    call(sender25_emulator, RAW, {"mail_from": "app@example.com", "rcpt_to": ["a@b.org"], "data": b64(raw)})
    send(sender25_emulator, subject=None)
    for message_id in (1, 2):
        assert expand(sender25_emulator, message_id, "details")["details"]["subject"] == ""


def test_subject_is_the_last_subject_header_cut_at_200_characters(sender25_emulator):
    raw = (
        b"From: app@example.com\r\nSubject: first\r\nTo: ana@example.org\r\nSubject: "
        + b"x" * 250
        + b"\r\n\r\nBody\r\n"
    )
    call(sender25_emulator, RAW, {"mail_from": "app@example.com", "rcpt_to": ["a@b.org"], "data": b64(raw)})
    assert expand(sender25_emulator, 1, "details")["details"]["subject"] == "x" * 200


# -- app/lib/message_dequeuer/outgoing_message_processor.rb: add_tag, add_outgoing_headers -----


def test_x_postal_tag_and_msgid_are_applied_at_delivery_time(sender25_emulator):
    send(sender25_emulator, headers={"X-Postal-Tag": "nightly"})
    data = expand(sender25_emulator, 1, "details", "headers")
    assert data["details"]["tag"] is None
    assert "x-postal-msgid" not in data["headers"]
    size = data["details"]["size"]
    sender25_emulator.advance(5)
    data = expand(sender25_emulator, 1, "details", "headers")
    assert data["details"]["tag"] == "nightly"
    assert data["headers"]["x-postal-msgid"] == [data["token"]]
    assert sender25_emulator.messages()[0].raw.startswith(f"X-Postal-MsgID: {data['token']}\r\n".encode())
    assert data["details"]["size"] == size  # the size column is set once, at insert


def test_send_raw_gets_its_tag_and_msgid_at_delivery_time(sender25_emulator):
    raw = b"From: app@example.com\r\nX-Postal-Tag: raw-tag\r\nSubject: s\r\n\r\nBody\r\n"
    call(sender25_emulator, RAW, {"mail_from": "app@example.com", "rcpt_to": ["a@b.org"], "data": b64(raw)})
    assert sender25_emulator.messages()[0].raw == raw
    sender25_emulator.advance(5)
    data = expand(sender25_emulator, 1, "details", "headers")
    assert data["details"]["tag"] == "raw-tag"
    assert data["headers"]["x-postal-msgid"] == [data["token"]]


def test_a_raw_message_that_has_an_msgid_keeps_it(sender25_emulator):
    raw = b"From: app@example.com\r\nX-Postal-MsgID: abc\r\nSubject: s\r\n\r\nBody\r\n"
    call(sender25_emulator, RAW, {"mail_from": "app@example.com", "rcpt_to": ["a@b.org"], "data": b64(raw)})
    sender25_emulator.advance(5)
    assert sender25_emulator.messages()[0].raw == raw


def test_a_tag_parameter_is_not_replaced_by_x_postal_tag(sender25_emulator):
    send(sender25_emulator, tag="param", headers={"X-Postal-Tag": "header"})
    sender25_emulator.advance(5)
    assert expand(sender25_emulator, 1, "details")["details"]["tag"] == "param"


def test_a_held_message_is_tagged_but_gets_its_msgid_only_when_released(sender25_emulator):
    send(sender25_emulator, to=["ana+held@example.org"], headers={"X-Postal-Tag": "t"})
    sender25_emulator.advance(5)
    message = sender25_emulator.messages()[0]
    assert (message.status, message.tag, message.headers["X-Postal-MsgID"]) == ("Held", "t", None)
    sender25_emulator.release(1)
    sender25_emulator.advance(5)
    assert sender25_emulator.messages()[0].headers["X-Postal-MsgID"] == message.token


# -- app/lib/message_dequeuer/base.rb, lib/postal/message_db/message.rb: delivery rows ---------


def test_error_row_has_no_log_id(sender25_emulator):
    send(sender25_emulator, to=["ana+error@example.org"])
    sender25_emulator.advance(60)
    error, sent = rows(sender25_emulator, 1)
    assert error["status"] == "Error"
    assert (error["log_id"], error["time"], error["sent_with_ssl"]) == (None, None, False)
    assert error["details"] == (
        "An internal error occurred while sending this message. This message will be retried automatically."
    )
    assert sent["log_id"] is not None


def test_bounced_row_names_the_bounce_message_like_postal(sender25_emulator):
    send(sender25_emulator, to=["ana+bounce@example.org"])
    sender25_emulator.advance(60)
    _sent, bounced = rows(sender25_emulator, 1)
    # The bounce arrived as message 2 of the same server.
    assert bounced["details"] == "We've received a bounce message for this e-mail. See <msg:2> for details."
    assert (bounced["output"], bounced["log_id"], bounced["time"]) == (None, None, None)
    assert send(sender25_emulator)["messages"]["ana@example.org"]["id"] == 3


def test_hold_cancelled_row_has_postals_text(make_emulator):
    emu = make_emulator(hold_expiry_delay=10)
    send(emu, to=["ana+held@example.org"])
    emu.advance(60)
    _held, cancelled = rows(emu, 1)
    assert cancelled["status"] == "HoldCancelled"
    assert cancelled["details"] == "The hold on this message has been removed without action."


# -- config/initializers/mail_extensions.rb: Mail::Message#plain_body ---------------------------


@pytest.mark.parametrize("text", ["Hello\n", "Hello", "Olá\n\nmundo\n", "a\n\n"])
def test_bodies_keep_their_trailing_newlines(sender25_emulator, text):
    send(sender25_emulator, plain_body=text, html_body=f"<p>{text}</p>\n")
    data = expand(sender25_emulator, 1, "plain_body", "html_body")
    assert (data["plain_body"], data["html_body"]) == (text, f"<p>{text}</p>\n")
    assert sender25_emulator.messages()[0].plain_body == text
