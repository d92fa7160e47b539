"""Address parsing matrices: forms, display names, IDN, de-duplication, header injection."""

from __future__ import annotations

from email import message_from_string
from email.policy import default

import pytest

from airflow_provider_mail._shared.addresses import (
    dedupe_recipients,
    parse_address,
    parse_address_list,
    split_address_list,
)
from airflow_provider_mail.exceptions import MailValidationError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("a@example.org", ["a@example.org"], id="single"),
        pytest.param(["a@example.org", "b@example.org"], ["a@example.org", "b@example.org"], id="list"),
        pytest.param("a@example.org, b@example.org", ["a@example.org", "b@example.org"], id="comma"),
        pytest.param("a@example.org;b@example.org ;", ["a@example.org", "b@example.org"], id="semicolon"),
        pytest.param(
            '"Silva, João" <j@x.com.br>, b@example.org',
            ['"Silva, João" <j@x.com.br>', "b@example.org"],
            id="quoted-comma",
        ),
        pytest.param(
            ["a@example.org; b@example.org", "c@example.org"],
            ["a@example.org", "b@example.org", "c@example.org"],
            id="list-of-strings",
        ),
        pytest.param(None, [], id="none"),
        pytest.param("", [], id="empty"),
    ],
)
def test_split_address_list(value, expected):
    assert split_address_list(value) == expected


@pytest.mark.parametrize(
    ("value", "addr_spec", "display_name"),
    [
        ("ana@example.org", "ana@example.org", ""),
        ("Ana <ana@example.org>", "ana@example.org", "Ana"),
        ('"Silva, João" <j@x.com.br>', "j@x.com.br", "Silva, João"),
        ("José <jose@bücher.de>", "jose@xn--bcher-kva.de", "José"),
        ("Ana <ana@EXAMPLE.org.>", "ana@example.org", "Ana"),
        ("first.last+tag@sub.example.com.br", "first.last+tag@sub.example.com.br", ""),
    ],
)
def test_parse_address_normalises_names_and_domains(value, addr_spec, display_name):
    address = parse_address(value, argument="to")
    assert address.addr_spec == addr_spec
    header = address.header_value
    assert header.isascii()  # non-ASCII names are RFC 2047-encoded, IDN domains are punycode
    (parsed,) = message_from_string(f"To: {header}\n\n", policy=default)[
        "To"
    ].addresses  # as a client reads it
    assert (parsed.display_name, parsed.addr_spec) == (display_name, addr_spec)


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "a@b",
        "@example.org",
        "a@",
        "a@@example.org",
        "a b@example.org",
        "ação@example.org",
        "a@-bad-.example.org",
        "Ana <ana@example.org",
        "a..b@example.org",
    ],
)
def test_parse_address_rejects_malformed_addresses_naming_argument_and_value(value):
    with pytest.raises(MailValidationError) as info:
        parse_address(value, argument="cc")
    assert info.value.code == "InvalidAddress"
    assert "`cc`" in str(info.value) and repr(value) in str(info.value)


@pytest.mark.parametrize(
    "value", ["a@example.org\r\nBcc: x@y.org", "Ana\n <a@example.org>", "a@example.org\x00"]
)
def test_parse_address_rejects_line_breaks(value):
    with pytest.raises(MailValidationError) as info:
        parse_address(value, argument="to")
    assert info.value.code == "HeaderInjection"


def test_non_string_recipient_is_refused():
    with pytest.raises(MailValidationError, match="int"):
        parse_address_list([42], argument="to")


def test_dedupe_keeps_the_first_place_case_insensitively():
    to = parse_address_list("A@example.org, b@example.org", argument="to")
    cc = parse_address_list(["a@EXAMPLE.org", "c@example.org"], argument="cc")
    bcc = parse_address_list("B@example.org", argument="bcc")
    kept_to, kept_cc, kept_bcc = dedupe_recipients(to, cc, bcc)
    assert [a.addr_spec for a in kept_to] == ["A@example.org", "b@example.org"]
    assert [a.addr_spec for a in kept_cc] == ["c@example.org"]
    assert kept_bcc == []


def test_the_common_address_forms_are_read_as_parseaddr_reads_them():
    """The direct reading of ``a@b.c`` and ``Name <a@b.c>`` gives what ``parseaddr`` gives."""
    import random
    from email.utils import parseaddr

    from airflow_provider_mail._shared.addresses import _COMMON_ADDRESS

    good = ["ana", "B", "x-y", "o'k", "a+b", "#", "{", "example", "-", "xn--bcher-kva", ".", " "]
    bad = ['"', ",", ";", "(", ")", "\\", "[", "]", ":", "é", "\t", "=?", "..", "  ", "<", ">", "@"]
    rng = random.Random(3)
    matched = 0

    def text(most: int) -> str:
        pieces = [rng.choice(bad if rng.random() < 0.1 else good) for _ in range(rng.randint(1, most))]
        return "".join(pieces)

    values = ["Bo  B <b@x.org>", "Bo B<b@x.org>", " Bo B <b@x.org> ", '"Bo" <b@x.org>', "B <b@x.org>>"]
    values += ["(c) b@x.org", "b@x.org (c)", "B. <b@x.org>", "<b@x.org>", "b@x.org.", "b@@x.org"]
    for _ in range(5000):
        address = f"{text(2)}@{text(2)}.{text(1)}"
        values.append(rng.choice([address, f"{text(3)} <{address}>", f"{text(3)}{address}{text(1)}"]))
    for value in values:
        common = _COMMON_ADDRESS.match(value.strip())
        if common is None:
            continue
        matched += 1
        name, local, domain = common.group(1) or "", common.group(2), common.group(3)
        assert parseaddr(value.strip()) == (name, f"{local}@{domain}"), value
        assert ("<" in value) == (">" in value), value
    for value in ("ana@example.org", "Ana B <ana@example.org>", " o'k+x@a-b.example.org "):
        assert _COMMON_ADDRESS.match(value.strip()), value
    assert matched > 50
