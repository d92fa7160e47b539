"""Raw messages (``Sender25SendRawOperator`` and ``send_raw``): every bad input is a named error."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from airflow_provider_mail._sender25.payload import build_send_raw_payload
from airflow_provider_mail._shared.raw_message import (
    eml_template_not_utf8,
    load_raw_message,
    prepare_raw_message,
)
from airflow_provider_mail.exceptions import MailValidationError, Sender25ValidationError

LATIN1_EML = (
    "From: Jo\u00e3o <joao@example.com>\r\nTo: ana@example.org\r\nSubject: Relat\u00f3rio\r\n\r\n"
    "Ol\u00e1, segue o relat\u00f3rio.\r\n"
).encode("latin-1")


def test_an_idn_from_without_message_id_gets_an_idna_2008_message_id():
    raw, message_id = prepare_raw_message(b"From: Ana <ana@stra\xc3\x9fe.de>\r\nSubject: x\r\n\r\nbody\r\n")
    assert message_id.endswith("@xn--strae-oqa.de")
    assert raw.startswith(f"Message-ID: <{message_id}>\r\n".encode())


@pytest.mark.parametrize(
    "from_header",
    [
        pytest.param("From: a@\u2603.example".encode(), id="idna2008-refused-symbol"),
        pytest.param(b"From: a@exempl\xe3.com", id="latin1-domain"),
        pytest.param(b"From: a@xn--zz.example", id="bad-punycode"),
    ],
)
def test_a_from_domain_idna_2008_refuses_is_refused_by_name(from_header):
    with pytest.raises(MailValidationError) as info:
        prepare_raw_message(from_header + b"\r\nSubject: x\r\n\r\nbody\r\n")
    assert info.value.code == "InvalidAddress"


def test_a_latin1_eml_file_is_sent_byte_for_byte(tmp_path):
    path = tmp_path / "nota.eml"
    path.write_bytes(LATIN1_EML)
    raw, message_id = prepare_raw_message(load_raw_message(path))
    assert raw.endswith(LATIN1_EML) and message_id.endswith("@example.com")


def test_text_decoded_with_surrogateescape_keeps_its_original_bytes():
    text = LATIN1_EML.decode("utf-8", "surrogateescape")
    assert load_raw_message(text) == LATIN1_EML


def test_text_with_lone_surrogates_is_a_named_error():
    with pytest.raises(MailValidationError) as info:
        load_raw_message("From: a@example.com\r\n\r\n\ud800")
    assert info.value.code == "InvalidArgument"


def test_a_missing_eml_path_is_a_named_error(tmp_path):
    with pytest.raises(MailValidationError) as info:
        load_raw_message(tmp_path / "missing.eml")
    assert info.value.code == "InvalidArgument"
    assert "missing.eml" in str(info.value)


def test_an_eml_path_that_is_a_directory_is_a_named_error(tmp_path):
    with pytest.raises(MailValidationError):
        load_raw_message(Path(tmp_path))


@pytest.mark.parametrize(
    ("extra_headers", "code"),
    [
        pytest.param({"X-Trace": "caf\u00e9"}, "InvalidArgument", id="non-ascii-value"),
        pytest.param({"X-Trace": "a\u2028b"}, "HeaderInjection", id="line-separator"),
        pytest.param({"X-Trace": 5}, "InvalidArgument", id="int-value"),
        pytest.param({"X Trace": "a"}, "HeaderInjection", id="bad-name"),
    ],
)
def test_bad_extra_headers_are_named_errors(extra_headers, code):
    with pytest.raises(MailValidationError) as info:
        prepare_raw_message(b"From: a@example.com\r\n\r\nbody\r\n", extra_headers=extra_headers)
    assert info.value.code == code


def test_the_sender25_raw_builder_keeps_surrogateescaped_text_bytes():
    text = LATIN1_EML.decode("utf-8", "surrogateescape")
    payload = build_send_raw_payload(mail_from="joao@example.com", rcpt_to="ana@example.org", data=text)
    assert base64.b64decode(payload["data"]) == LATIN1_EML


def test_the_sender25_raw_builder_names_lone_surrogates():
    with pytest.raises(Sender25ValidationError) as info:
        build_send_raw_payload(
            mail_from="a@example.com", rcpt_to="b@example.org", data="From: a@x.org\n\n\udfff"
        )
    assert info.value.code == "InvalidArgument"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        pytest.param({"mail_from": 5}, "InvalidAddress", id="mail-from-int"),
        pytest.param({"mail_from": "a@\u2603.example"}, "InvalidAddress", id="mail-from-idna2008"),
        pytest.param({"rcpt_to": 5}, "InvalidAddress", id="rcpt-to-int"),
    ],
)
def test_the_sender25_raw_builder_names_bad_envelopes(kwargs, code):
    arguments = {
        "mail_from": "a@example.com",
        "rcpt_to": "b@example.org",
        "data": b"From: a@example.com\r\n\r\nx",
    }
    with pytest.raises(Sender25ValidationError) as info:
        build_send_raw_payload(**{**arguments, **kwargs})
    assert info.value.code == code


def test_the_error_for_a_non_utf8_eml_template_names_the_file_and_the_way_out():
    try:
        LATIN1_EML.decode("utf-8")
    except UnicodeDecodeError as err:
        error = eml_template_not_utf8("nota.eml", err)
    assert isinstance(error, MailValidationError) and error.code == "InvalidArgument"
    assert "'nota.eml'" in str(error) and "pathlib.Path" in str(error) and "b'\\xe3'" in str(error)
