"""The one payload builder: what goes on the wire for each argument form."""

from __future__ import annotations

import base64
from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_mail._sender25.payload import (
    ALL_EXPANSIONS,
    build_message_query,
    build_send_message_payload,
    build_send_raw_payload,
)
from airflow_provider_mail._shared.attachment import Attachment
from airflow_provider_mail.exceptions import Sender25ValidationError

BASE = {"to": "ana@example.org", "from_email": "noreply@example.com", "plain_body": "hi"}


@pytest.mark.parametrize(
    ("attachment", "expected"),
    [
        pytest.param(
            Attachment("a.pdf", b"%PDF"), ("a.pdf", "application/pdf", b"%PDF"), id="object-guessed-type"
        ),
        pytest.param(
            {"name": "n.txt", "data": b"x", "content_type": "text/csv"},
            ("n.txt", "text/csv", b"x"),
            id="dict",
        ),
        pytest.param(
            ("relatório.csv", "ç;1\n"), ("relatório.csv", "text/csv", "ç;1\n".encode()), id="tuple-str"
        ),
        pytest.param(("blob", b"\x00\x01", "image/png"), ("blob", "image/png", b"\x00\x01"), id="tuple-3"),
        pytest.param(("noext", b"x"), ("noext", "application/octet-stream", b"x"), id="unknown-type"),
    ],
)
def test_attachment_forms_are_base64_encoded_with_name_and_type(attachment, expected):
    payload = build_send_message_payload(**BASE, attachments=[attachment])
    (item,) = payload["attachments"]
    assert (item["name"], item["content_type"], base64.b64decode(item["data"])) == expected


def test_payload_carries_every_field_and_bounce_as_json_boolean():
    payload = build_send_message_payload(
        to=["Ana <ana@example.org>"],
        cc="c@example.org",
        bcc="b@example.org",
        from_email="n@example.com",
        sender="s@example.com",
        reply_to="r@example.com",
        subject="S",
        tag="invoice",
        html_body="<b>x</b>",
        plain_body="x",
        headers={"X-Trace": 7},
    )
    assert payload == {
        "to": ["Ana <ana@example.org>"],
        "cc": ["c@example.org"],
        "bcc": ["b@example.org"],
        "from": "n@example.com",
        "sender": "s@example.com",
        "reply_to": "r@example.com",
        "subject": "S",
        "tag": "invoice",
        "plain_body": "x",
        "html_body": "<b>x</b>",
        "headers": {"X-Trace": "7"},
        "bounce": False,
    }


def test_non_boolean_bounce_is_refused():
    with pytest.raises(Sender25ValidationError, match="bounce"):
        build_send_message_payload(**BASE, bounce="false")  # type: ignore[arg-type]


def test_raw_payload_encodes_message_objects_with_crlf():
    message = EmailMessage()
    message["From"] = "n@example.com"
    message.set_content("line1\nline2")
    payload = build_send_raw_payload(mail_from="n@example.com", rcpt_to="a@example.org", data=message)
    raw = base64.b64decode(payload["data"])
    assert b"line1\r\nline2" in raw and payload["rcpt_to"] == ["a@example.org"]


@pytest.mark.parametrize(
    ("expansions", "sent"),
    [(("status",), ["status"]), (True, list(ALL_EXPANSIONS)), (None, []), (False, []), ([], [])],
)
def test_message_query_always_has_an_explicit_list(expansions, sent):
    assert build_message_query("12", expansions) == {"id": 12, "_expansions": sent}


@given(st.lists(st.emails(), min_size=1, max_size=60))
def test_recipient_count_rule_matches_the_server_after_dedupe(emails):
    unique = {e.lower() for e in emails}
    try:
        payload = build_send_message_payload(to=emails, from_email="n@example.com", plain_body="x")
    except Sender25ValidationError as err:
        assert err.code in {"TooManyToAddresses", "InvalidAddress"}
        if err.code == "TooManyToAddresses":
            assert len(unique) > 50
    else:
        assert len(payload["to"]) == len(unique) <= 50
