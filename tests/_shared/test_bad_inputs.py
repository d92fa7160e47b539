"""Every bad message argument is a named ``MailValidationError`` on both services, found before sending.

One table of bad inputs, run against the Sender25 payload builder and the MIME builder used for
xmailer SMTP. A raw ``TypeError``/``ValueError``/``AttributeError``/``UnicodeError`` fails the test
(``pytest.raises`` only catches the named error).
"""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default

import pytest

from airflow_provider_mail._sender25.payload import build_send_message_payload
from airflow_provider_mail._shared.mime import build_email_message
from airflow_provider_mail.exceptions import MailValidationError, Sender25ValidationError

BASE = {"to": "ana@example.org", "from_email": "noreply@example.com", "plain_body": "hi"}

SENDER25 = "sender25"
XMAILER = "xmailer"
BOTH = (SENDER25, XMAILER)

#: Every character that ends a line somewhere (``str.splitlines``), plus NUL.
BREAKS = {
    "CRLF": "\r\n",
    "CR": "\r",
    "LF": "\n",
    "NUL": "\x00",
    "VT": "\x0b",
    "FF": "\x0c",
    "FS": "\x1c",
    "GS": "\x1d",
    "RS": "\x1e",
    "NEL": "\x85",
    "LSEP": "\u2028",
    "PSEP": "\u2029",
}


def build(service: str, **kwargs):
    """Call one service's builder with BASE overridden by ``kwargs``."""
    arguments = {**BASE, **kwargs}
    if service == SENDER25:
        return build_send_message_payload(**arguments)
    return build_email_message(**arguments)


def _cases():
    """(id, services, kwargs, expected code)."""
    cases = [
        ("subject-int", BOTH, {"subject": 123}, "InvalidArgument"),
        ("subject-bytes", BOTH, {"subject": b"hi"}, "InvalidArgument"),
        ("subject-list", BOTH, {"subject": ["a"]}, "InvalidArgument"),
        ("tag-int", (SENDER25,), {"tag": 7}, "InvalidArgument"),
        ("tag-bytes", (SENDER25,), {"tag": b"t"}, "InvalidArgument"),
        ("headers-list", BOTH, {"headers": ["X-A: b"]}, "InvalidArgument"),
        ("headers-str", BOTH, {"headers": "X-A: b"}, "InvalidArgument"),
        ("header-value-bytes", BOTH, {"headers": {"X-A": b"v"}}, "InvalidArgument"),
        ("header-value-none", BOTH, {"headers": {"X-A": None}}, "InvalidArgument"),
        ("header-value-list", BOTH, {"headers": {"X-A": ["v"]}}, "InvalidArgument"),
        ("header-name-bytes", BOTH, {"headers": {b"X-A": "v"}}, "HeaderInjection"),
        ("header-name-colon", BOTH, {"headers": {"X-A:": "v"}}, "HeaderInjection"),
        ("header-name-space", BOTH, {"headers": {"X A": "v"}}, "HeaderInjection"),
        ("plain-body-bytes", BOTH, {"plain_body": b"hi"}, "InvalidArgument"),
        ("html-body-bytes", BOTH, {"plain_body": None, "html_body": b"<b>hi</b>"}, "InvalidArgument"),
        ("plain-body-int", BOTH, {"plain_body": 5}, "InvalidArgument"),
        ("from-int", BOTH, {"from_email": 5}, "InvalidAddress"),
        ("from-bytes", BOTH, {"from_email": b"n@example.com"}, "InvalidAddress"),
        ("to-int", BOTH, {"to": 5}, "InvalidAddress"),
        ("to-bytes", BOTH, {"to": b"ana@example.org"}, "InvalidAddress"),
        ("cc-dict", BOTH, {"cc": {"a": 1}}, "InvalidAddress"),
        ("sender-int", BOTH, {"sender": 5}, "InvalidAddress"),
        ("idna2008-refuses-symbol", BOTH, {"to": "ana@\u2603.example"}, "InvalidAddress"),
        ("idna2008-refuses-bad-punycode", BOTH, {"to": "ana@xn--zz.example"}, "InvalidAddress"),
        ("from-idna2008-refused", BOTH, {"from_email": "n@\u2603.example"}, "InvalidAddress"),
        ("attachments-int", BOTH, {"attachments": 5}, "InvalidArgument"),
        ("attachment-int", BOTH, {"attachments": [5]}, "InvalidArgument"),
        ("attachment-data-int", BOTH, {"attachments": [("a.txt", 5)]}, "InvalidArgument"),
        ("attachment-name-int", BOTH, {"attachments": [(5, b"x")]}, "InvalidArgument"),
        ("attachment-name-missing", BOTH, {"attachments": [{"data": b"x"}]}, "AttachmentMissingName"),
        ("attachment-type-int", BOTH, {"attachments": [("a.txt", b"x", 5)]}, "InvalidArgument"),
        ("attachment-type-no-slash", BOTH, {"attachments": [("a", b"x", "text")]}, "InvalidArgument"),
        ("attachment-type-space", BOTH, {"attachments": [("a", b"x", "text/ plain")]}, "InvalidArgument"),
    ]
    for label, char in BREAKS.items():
        cases += [
            (f"subject-{label}", BOTH, {"subject": f"a{char}Bcc: x@evil.example"}, "HeaderInjection"),
            (f"header-value-{label}", BOTH, {"headers": {"X-A": f"v{char}Bcc: x"}}, "HeaderInjection"),
            (f"display-name-{label}", BOTH, {"from_email": f"N{char}X <n@example.com>"}, "HeaderInjection"),
            (f"reply-to-{label}", BOTH, {"reply_to": f"r@example.com{char}"}, "HeaderInjection"),
            (f"attachment-name-{label}", BOTH, {"attachments": [(f"a{char}.txt", b"x")]}, "HeaderInjection"),
            (
                f"attachment-type-{label}",
                BOTH,
                {"attachments": [("a.txt", b"x", f"text/plain{char}Bcc: x")]},
                "HeaderInjection",
            ),
            (f"tag-{label}", (SENDER25,), {"tag": f"t{char}x"}, "HeaderInjection"),
        ]
    return [
        pytest.param(service, kwargs, code, id=f"{service}-{case_id}")
        for case_id, services, kwargs, code in cases
        for service in services
    ]


@pytest.mark.parametrize(("service", "kwargs", "code"), _cases())
def test_bad_input_is_a_named_validation_error(service, kwargs, code):
    with pytest.raises(MailValidationError) as info:
        build(service, **kwargs)
    assert info.value.code == code
    if service == SENDER25:
        assert isinstance(info.value, Sender25ValidationError)
    else:
        assert not isinstance(info.value, Sender25ValidationError)


def test_the_shared_line_break_set_is_every_line_boundary_python_knows():
    """The one validator refuses exactly what ``str.splitlines`` splits on, plus NUL."""
    from airflow_provider_mail._shared.addresses import LINE_BREAKS

    boundaries = {chr(c) for c in range(0x110000) if len(f"a{chr(c)}b".splitlines()) > 1}
    assert set(LINE_BREAKS) == boundaries | {"\x00"}
    assert set(BREAKS.values()) - {"\r\n"} == set(LINE_BREAKS)


@pytest.mark.parametrize("service", BOTH)
def test_idn_domains_use_idna_2008(service):
    """``ß`` is kept (IDNA 2008 / UTS 46 non-transitional), not mapped to ``ss`` as Python's codec does."""
    result = build(service, to="Ana <ana@straße.de>", from_email="n@bücher.de")
    if service == SENDER25:
        assert result["to"] == ["Ana <ana@xn--strae-oqa.de>"]
        assert result["from"] == "n@xn--bcher-kva.de"
    else:
        parsed = message_from_bytes(result.as_bytes(), policy=default)
        assert parsed["To"].addresses[0].addr_spec == "ana@xn--strae-oqa.de"
        assert result.recipients == ["ana@xn--strae-oqa.de"]
        assert result.message_id.endswith("@xn--bcher-kva.de")


@pytest.mark.parametrize("service", BOTH)
def test_numbers_in_header_values_are_still_accepted(service):
    result = build(service, headers={"X-Count": 7})
    value = result["headers"]["X-Count"] if service == SENDER25 else result.message["X-Count"]
    assert value == "7"


@pytest.mark.parametrize("service", BOTH)
def test_a_content_type_with_parameters_is_accepted(service):
    result = build(service, attachments=[("a.csv", b"x;y", "text/csv; charset=utf-8")])
    if service == SENDER25:
        assert result["attachments"][0]["content_type"] == "text/csv; charset=utf-8"
    else:
        (part,) = list(result.message.iter_attachments())
        assert (part.get_content_type(), part.get_param("charset")) == ("text/csv", "utf-8")
