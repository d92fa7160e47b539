"""Exim queue ids: both formats, and the receive time they carry."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from airflow_provider_mail._xmailer.exim import decode_base62, parse_queue_id, smtp_status

SAO_PAULO = ZoneInfo("America/Sao_Paulo")


@pytest.mark.parametrize(
    ("queue_id", "report_time"),
    [("1grzDQ-000866-0o", "04:01:45"), ("1grzDc-00086s-9P", "04:01:21"), ("1grzDi-00087c-PO", "04:01:06")],
)
def test_the_seed_samples_decode_to_a_receive_time_just_before_their_report_time(queue_id, report_time):
    parsed = parse_queue_id(queue_id)
    assert parsed is not None and parsed.style == "classic"
    received_local = parsed.received_at.astimezone(SAO_PAULO)
    reported = datetime.combine(
        received_local.date(), datetime.strptime(report_time, "%H:%M:%S").time(), SAO_PAULO
    )
    assert 0 <= (reported - received_local).total_seconds() < 120


def test_exim_497_ids_are_recognised():
    parsed = parse_queue_id("1grzDQ-0000000866A-00ab")
    assert parsed is not None and parsed.style == "exim497"
    assert parsed.received_at == datetime.fromtimestamp(decode_base62("1grzDQ"), tz=timezone.utc)


@pytest.mark.parametrize("value", ["", "4Xy1Zq3Lk", "1grzDQ-000866", "1grzDQ_000866-0o", "1grz!Q-000866-0o"])
def test_other_ids_are_not_exim(value):
    assert parse_queue_id(value) is None


def test_base62_digit_order_is_digits_upper_lower():
    assert [decode_base62(c) for c in "09AZaz"] == [0, 9, 10, 35, 36, 61]


# -- the SMTP reply inside a status text ------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "code", "enhanced"),
    [
        ("550 5.1.1 <ana@x.org>: User unknown", 550, "5.1.1"),
        ("552-5.2.2 Mailbox full", 552, "5.2.2"),
        ("250 OK id=1grzDQ-000866-0o", 250, None),
        (
            "SMTP error from remote mail server after RCPT TO:<ana@x.org>: "
            "550 5.1.1 <ana@x.org>: Recipient address rejected",
            550,
            "5.1.1",
        ),
        (
            "SMTP error from remote mail server after pipelined RCPT TO:<ana@x.org>: 450 4.2.0 try later",
            450,
            "4.2.0",
        ),
        (
            "SMTP error from remote mail server after MAIL FROM:<bo@envio.example.com.br> SIZE=5501: "
            "552 5.3.4 Message size exceeds fixed limit",
            552,
            "5.3.4",
        ),
        (
            "SMTP error from remote mail server after pipelined MAIL FROM:<> SIZE=1234: 421 4.3.2 busy",
            421,
            "4.3.2",
        ),
        ("SMTP error from remote mail server after end of data: 554 5.7.1 Message rejected", 554, "5.7.1"),
        ("SMTP error from remote mail server after pipelined end of data: 550-5.7.26 DMARC", 550, "5.7.26"),
        ("SMTP error from remote mail server after initial connection: 421 4.7.0 Too many", 421, "4.7.0"),
        ("host mx.x.org [192.0.2.7]: 451 4.7.1 Greylisted, try again", 451, "4.7.1"),
        ("host mx.x.org [2001:db8::550]: 451 4.7.1 Greylisted", 451, "4.7.1"),
        (
            "SMTP error from remote mail server after RCPT TO:<550@x.org>: host mx.x.org [192.0.2.250]: "
            "550 #5.1.0 Address rejected",
            550,
            "5.1.0",
        ),
        (
            "host mx.x.org [192.0.2.7]\n    SMTP error from remote mail server after RCPT TO:<a@x.org>:\n    550 5.1.1 no",
            550,
            "5.1.1",
        ),
        ("Entregue com sucesso", None, None),
        ("retry timeout exceeded", None, None),
        ("Unrouteable address", None, None),
        ("at 10:00:00 451 messages", None, None),
        ("", None, None),
    ],
)
def test_smtp_status_finds_the_reply_in_exim_failure_texts(text, code, enhanced):
    assert smtp_status(text) == (code, enhanced)
