"""The directly written message is the same bytes as the ``email`` package's (the form before issue 17).

Each message is built twice from the same checked arguments, Date, Message-ID and random state: by
the direct writer and by the ``EmailMessage`` reference. Where the writer declines (a custom
``Content-*`` header) the builder falls back to the reference, which is checked too.
"""

from __future__ import annotations

import random
import string
from email import message_from_bytes
from email.policy import default

import pytest

from airflow_provider_mail._shared import mime, mime_wire
from airflow_provider_mail._shared.addresses import EmailAddress

DATE = "Sun, 06 Dec 2026 09:40:35 GMT"
MESSAGE_ID = "<179655003516.23729.750269933684623562@example.com>"
BASE = {"to": "ana@example.org", "from_email": "noreply@example.com", "plain_body": "hi"}
LONG = "word " * 30

#: (id, arguments, written directly?)
MESSAGES = [
    ("plain", {}, True),
    ("html-only", {"plain_body": None, "html_body": "<p>hello</p>"}, True),
    ("alternative", {"html_body": "<p>hello</p>"}, True),
    ("blank-plain-html", {"plain_body": "  ", "html_body": "<b>x</b>"}, True),
    ("blank-html", {"html_body": " \n "}, True),
    ("non-ascii-names", {"to": "João Ñandú <j@example.org>, Zoë <z@example.org>"}, True),
    ("name-with-comma", {"to": '"Silva, João" <j@example.org>'}, True),
    ("name-with-specials", {"to": '"a.b (c)" <x@example.org>', "from_email": "Dr. No <n@example.com>"}, True),
    ("name-encoded-word", {"to": "=?utf-8?q?x?= <x@example.org>"}, True),
    ("idn", {"to": "Ana <ana@straße.de>", "from_email": "n@bücher.de"}, True),
    ("many-recipients", {"to": [f"user{i} <user{i}@example.org>" for i in range(30)]}, True),
    (
        "cc-sender-reply-to",
        {"cc": "c@example.org", "sender": "S <s@example.com>", "reply_to": "r@example.com"},
        True,
    ),
    ("long-subject", {"subject": LONG}, True),
    ("long-word-subject", {"subject": "x" * 200}, True),
    ("non-ascii-subject", {"subject": "Relatório diário — ação ☃ " * 4}, True),
    ("subject-spacing", {"subject": "  two  spaces\tand tab  "}, True),
    ("subject-encoded-word", {"subject": "=?utf-8?b?w6k=?= literal"}, True),
    ("subject-78", {"subject": "s" * 69}, True),
    ("subject-79", {"subject": "s" * 70}, True),
    ("empty-subject", {"subject": ""}, True),
    ("custom-headers", {"headers": {"X-A": "1", "X-Long": LONG, "X-U": "ü", "Keywords": "a, b"}}, True),
    ("structured-custom", {"headers": {"Resent-To": "x@example.org", "Resent-Date": DATE}}, True),
    ("content-header", {"headers": {"Content-Language": "pt"}, "html_body": "<p>x</p>"}, False),
    ("mime-version-header", {"headers": {"MIME-Version": "1.0"}}, False),
    ("crlf-body", {"plain_body": "a\r\nb\rc\n\n.d\nFrom x\n"}, True),
    ("body-78", {"plain_body": "b" * 78 + "\n" + "c" * 78}, True),
    ("body-79", {"plain_body": "b" * 79}, True),
    ("long-html-line", {"html_body": "<p>" + "ação " * 200 + "</p>\n" * 12}, True),
    ("base64-body", {"plain_body": "日本語のテキスト\n" * 20, "html_body": "<p>😀</p>"}, True),
    ("8bit-body-with-cr", {"plain_body": "olá\rmundo\r\n.\n", "html_body": "é"}, True),
    ("qp-short-body", {"plain_body": "é" * 60}, True),
    ("vertical-tab-body", {"plain_body": "a\x0bb\x0cc\x1cd"}, True),
    ("non-ascii-body", {"plain_body": "olá\n", "html_body": "<p>ação</p>"}, True),
    ("boundary-like-body", {"plain_body": "--===============1==\n", "html_body": "--x--"}, True),
    (
        "attachments",
        {"attachments": [("relatório.csv", b"a,b\n" * 50, "text/csv"), ("a.bin", b"\0\1", None)]},
        True,
    ),
    ("attachment-html", {"html_body": "<p>x</p>", "attachments": [("x.txt", b"x", "text/plain")]}, True),
    (
        "alternative-and-attachments",
        {
            "plain_body": "olá",
            "html_body": "<p>" + "x" * 100 + "</p>",
            "attachments": [
                ("ü" * 80 + ".pdf", b"%PDF" * 300, "application/pdf"),
                ("b.csv", b"a", "text/csv; charset=utf-8"),
            ],
        },
        True,
    ),
    (
        "attachment-8bit-body",
        {"plain_body": "ação\n", "attachments": [("a.txt", "texto é".encode(), None)]},
        True,
    ),
    (
        "content-header-attachment",
        {"headers": {"Content-Language": "pt"}, "attachments": [("a.txt", b"x", None)]},
        False,
    ),
]


def content(**kwargs):
    arguments = {
        "subject": None,
        "html_body": None,
        "cc": None,
        "bcc": None,
        "sender": None,
        "reply_to": None,
        "headers": None,
        "attachments": (),
        **BASE,
        **kwargs,
    }
    return mime._content(**arguments)._replace(date=DATE, message_id=MESSAGE_ID)


@pytest.mark.parametrize(("arguments", "direct"), [m[1:] for m in MESSAGES], ids=[m[0] for m in MESSAGES])
def test_the_direct_writer_gives_the_email_packages_bytes(arguments, direct):
    checked = content(**arguments)
    random.seed(17)
    written = mime._wire_bytes(checked)
    random.seed(17)
    reference = mime._stdlib_bytes(checked)
    assert (written is not None) == direct
    if direct:
        assert written == reference
    parsed = message_from_bytes(written or reference, policy=default)
    assert parsed["Message-ID"] == MESSAGE_ID
    assert not parsed.defects


def test_the_builder_sends_the_reference_form_when_the_writer_declines():
    arguments = {"headers": {"Content-Language": "pt"}, "attachments": [("a.txt", b"x", "text/plain")]}
    built = mime.build_email_message(**BASE, **arguments)
    assert [p.get_filename() for p in built.message.iter_attachments()] == ["a.txt"]
    assert built.as_bytes().endswith(b"--\r\n")
    assert mime._wire_bytes(content(**arguments)) is None


def test_built_messages_carry_the_direct_form():
    """``build_email_message`` sends what the writer wrote (fixed Date, Message-ID and boundaries aside)."""
    arguments = {"html_body": "<p>olá</p>", "attachments": [("a.txt", b"x", None)]}
    random.seed(3)
    built = mime.build_email_message(**BASE, **arguments)
    random.seed(3)  # make_msgid draws first, then the boundary
    checked = content(**arguments)._replace(date=built.message["Date"], message_id=f"<{built.message_id}>")
    assert built.as_bytes() == mime._wire_bytes(checked)


#: Characters that change how the ``email`` package writes a value.
PIECES = [*string.ascii_letters[:6], " ", "  ", "\t", "=?", "?=", "(", ")", '"', ",", ":", ";", "<", ">", "@"]
PIECES += [".", "\\", "é", "ção", "☃", "=?utf-8?q?a?=", "x" * 40, "-", "'", "[", "]"]


def random_text(rng: random.Random, longest: int = 30) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, longest)))


@pytest.mark.parametrize("name", ["Subject", "X-Custom", "Keywords", "Comments", "Resent-Date"])
def test_unstructured_headers_match_the_package_for_random_values(name):
    rng = random.Random(name)
    for _ in range(1000):
        value = random_text(rng)
        assert mime_wire.text_header(name, value) == mime_wire.folded(name, value), value


def test_address_headers_match_the_package_for_random_display_names():
    rng = random.Random(5)
    for _ in range(1000):
        addresses = [
            EmailAddress(f"u{i}@example.org", random_text(rng, rng.choice((4, 30))).strip())
            for i in range(rng.randint(1, 4))
        ]
        expected = mime_wire.folded("To", mime_wire.as_addresses(addresses))
        assert mime_wire.address_header("To", addresses) == expected, addresses


def test_message_ids_and_dates_match_the_package():
    for domain in ("example.com", "a" * 60 + ".example.com", "xn--bcher-kva.de"):
        message_id = f"<179655003516.23729.750269933684623562@{domain}>"
        assert mime_wire.message_id_header(message_id) == mime_wire.folded("Message-ID", message_id)
    for date in (DATE, "Mon, 01 Jan 2024 00:00:00 GMT", "Mon, 01 Jan 2024 00:00:00 -0300"):
        assert mime_wire.date_header(date) == mime_wire.folded("Date", date)
