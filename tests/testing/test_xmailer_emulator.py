"""The xmailer emulator on the wire: each test states one behaviour of the reference notes
(``xmailer.md``) or the seed contract and checks it with plain ``smtplib`` / ``requests``."""

from __future__ import annotations

import base64
import datetime
import http.client
import json
import os
import re
import signal
import smtplib
import socket
import ssl
import string
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from airflow_provider_mail.testing import Fault, XmailerEmulator

SP = ZoneInfo("America/Sao_Paulo")
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
SENDER = "cobranca@envio.example.com.br"
MESSAGE = (
    b"From: Cobranca <cobranca@envio.example.com.br>\r\nTo: ana@example.org\r\nSubject: Boleto\r\n\r\nOla\r\n"
)
EXIM_REPLY = re.compile(r"OK id=([0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2})")
TEXT_ERRORS = {
    "208": "STATUS: ERRO - FALTAM PARAMETROS",
    "207": "STATUS: ERRO - FALHA DE AUTENTICACAO",
    "210": "STATUS: ERRO - DATA COM FORMATO INCORRETO - formato deve ser YYYY-MM-DD",
    "211": "STATUS: ERRO - HORA COM FORMATO INCORRETO - formato deve ser HH:MM",
}


# -- helpers ------------------------------------------------------------------------------------


def decode62(digits: str) -> int:
    value = 0
    for char in digits:
        value = value * 62 + BASE62.index(char)
    return value


def epoch(*fields: int, fold: int = 0) -> float:
    """São Paulo wall time → epoch (``fold=1`` picks the second pass of a repeated hour)."""
    return datetime.datetime(*fields, tzinfo=SP).replace(fold=fold).timestamp()


def trusting(emu: XmailerEmulator) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=emu.ca_cert_path)


@contextmanager
def smtp(emu: XmailerEmulator, *, login: bool = True) -> Iterator[smtplib.SMTP]:
    """A session as a client of the emulator's TLS mode should open it."""
    client: smtplib.SMTP
    if emu.smtp_tls == "implicit":
        client = smtplib.SMTP_SSL(emu.smtp_host, emu.smtp_port, context=trusting(emu), timeout=5)
    else:
        client = smtplib.SMTP(emu.smtp_host, emu.smtp_port, timeout=5)
    try:
        client.ehlo()
        if emu.smtp_tls == "starttls":
            client.starttls(context=trusting(emu))
            client.ehlo()
        if login:
            client.login(emu.username, emu.password)
        yield client
    finally:
        client.close()


def transaction(
    client: smtplib.SMTP, rcpts: list[str], sender: str = SENDER, data: bytes = MESSAGE
) -> tuple[int, str]:
    """MAIL, RCPT…, DATA keeping the end-of-DATA reply (which ``sendmail`` throws away)."""
    assert client.mail(sender)[0] == 250
    for rcpt in rcpts:
        assert client.rcpt(rcpt)[0] == 250
    code, reply = client.data(data)
    return code, reply.decode()


def send(emu: XmailerEmulator, *rcpts: str, sender: str = SENDER) -> str:
    """Send one message in its own session; return the queue id the emulator recorded."""
    with smtp(emu) as client:
        code, _ = transaction(client, list(rcpts) or ["ana@example.org"], sender)
    assert code == 250
    return emu.messages[-1].queue_id


def window_around(emu: XmailerEmulator, margin: float = 86400) -> dict[str, str]:
    start = datetime.datetime.fromtimestamp(emu.now() - margin, SP)
    end = datetime.datetime.fromtimestamp(emu.now() + margin, SP)
    return window(start, end)


def window(start: datetime.datetime, end: datetime.datetime) -> dict[str, str]:
    return {
        "dataini": start.strftime("%Y-%m-%d"),
        "horaini": start.strftime("%H:%M"),
        "datafim": end.strftime("%Y-%m-%d"),
        "horafim": end.strftime("%H:%M"),
    }


def report(
    emu: XmailerEmulator, method: str = "POST", path: str | None = None, **params: Any
) -> requests.Response:
    """A report request with valid credentials and a two-day window unless ``params`` override
    them (a ``None`` value drops the parameter)."""
    sent = {"usuario_smtp": emu.username, "senha_smtp": emu.password, **window_around(emu), **params}
    sent = {key: value for key, value in sent.items() if value is not None}
    url = emu.base_url + (path or emu.report_path)
    if method == "GET":
        return requests.get(url, params=sent, timeout=10)
    return requests.post(url, data=sent, timeout=10)


def lines(emu: XmailerEmulator, **params: Any) -> list[list[str]]:
    response = report(emu, **params)
    assert response.status_code == 200
    return [line.split(";") for line in response.text.splitlines()]


def admin(emu: XmailerEmulator, method: str, route: str, payload: Any = None) -> requests.Response:
    return requests.request(method, f"{emu.base_url}/_emulator/{route}", json=payload, timeout=5)


def delivered(emu: XmailerEmulator, seconds: float = 10) -> None:
    """Let every scheduled event happen and become visible."""
    emu.advance(seconds)


# -- SMTP: authentication and TLS ---------------------------------------------------------------


def test_starttls_relay_offers_auth_only_after_tls(xmailer_emulator):
    with smtplib.SMTP(xmailer_emulator.smtp_host, xmailer_emulator.smtp_port, timeout=5) as client:
        client.ehlo()
        assert client.has_extn("starttls") and not client.has_extn("auth")
        assert client.docmd("AUTH", "PLAIN AGZvbwBiYXI=")[0] == 538
        client.starttls(context=trusting(xmailer_emulator))
        client.ehlo()
        assert client.has_extn("auth") and not client.has_extn("starttls")
        assert set(client.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN"}


@pytest.mark.parametrize("smtp_tls", ["starttls", "implicit", "none"])
@pytest.mark.parametrize("command", ["MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>", "DATA"])
def test_mail_rcpt_and_data_require_authentication(make_xmailer, smtp_tls, command):
    emu = make_xmailer(smtp_tls=smtp_tls)
    with smtp(emu, login=False) as client:
        verb, _, argument = command.partition(" ")
        assert client.docmd(verb, argument) == (530, b"5.7.0 Authentication required")


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
@pytest.mark.parametrize(
    ("user", "password", "code"),
    [
        ("relay@example.com", "smtp-secret", 235),
        ("relay@example.com", "wrong", 535),
        ("other@example.com", "smtp-secret", 535),
    ],
)
def test_auth_plain_and_login_check_user_and_password(xmailer_emulator, mechanism, user, password, code):
    with smtp(xmailer_emulator, login=False) as client:
        client.user, client.password = user, password
        authenticator = client.auth_plain if mechanism == "PLAIN" else client.auth_login
        if code == 235:
            assert client.auth(mechanism, authenticator)[0] == 235
        else:
            with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
                client.auth(mechanism, authenticator)
            assert (refused.value.smtp_code, refused.value.smtp_error) == (
                535,
                b"5.7.8 Authentication credentials invalid",
            )


@pytest.mark.parametrize(("smtp_tls", "tls"), [("starttls", True), ("implicit", True), ("none", False)])
def test_each_tls_mode_delivers_and_records_whether_tls_was_used(make_xmailer, smtp_tls, tls):
    emu = make_xmailer(smtp_tls=smtp_tls)
    send(emu)
    [message] = emu.messages
    assert (message.tls, message.authenticated_as) == (tls, "relay@example.com")


def test_implicit_tls_relay_offers_auth_and_no_starttls(make_xmailer):
    emu = make_xmailer(smtp_tls="implicit")
    with smtp(emu, login=False) as client:
        assert client.has_extn("auth") and not client.has_extn("starttls")


@pytest.mark.parametrize("smtp_tls", ["starttls", "implicit"])
def test_tls_certificate_is_only_trusted_through_ca_cert_path(make_xmailer, smtp_tls):
    emu = make_xmailer(smtp_tls=smtp_tls)
    untrusting = ssl.create_default_context()
    if smtp_tls == "implicit":
        with pytest.raises(ssl.SSLCertVerificationError):
            smtplib.SMTP_SSL(emu.smtp_host, emu.smtp_port, context=untrusting, timeout=5)
    else:
        with (
            smtplib.SMTP(emu.smtp_host, emu.smtp_port, timeout=5) as client,
            pytest.raises(ssl.SSLCertVerificationError),
        ):
            client.starttls(context=untrusting)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_certificate_names_the_loopback_host(xmailer_emulator, host):
    with smtplib.SMTP(host, xmailer_emulator.smtp_port, timeout=5) as client:
        assert client.starttls(context=trusting(xmailer_emulator))[0] == 220


# -- SMTP: queue ids ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("style", "reply"),
    [
        ("exim", r"OK id=([0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2})"),
        ("exim497", r"OK id=([0-9A-Za-z]{6}-[0-9A-Za-z]{11}-[0-9A-Za-z]{4})"),
        ("postfix", r"2\.0\.0 Ok: queued as ([0-9A-F]{10,})"),
    ],
)
def test_end_of_data_reply_announces_the_queue_id(make_xmailer, style, reply):
    emu = make_xmailer(queue_id_style=style)
    with smtp(emu) as client:
        code, text = transaction(client, ["ana@example.org"])
    match = re.fullmatch(reply, text)
    assert code == 250 and match is not None
    assert match.group(1) == emu.messages[0].queue_id


def test_queue_id_style_none_answers_plain_ok_but_the_report_has_an_id(make_xmailer):
    emu = make_xmailer(queue_id_style="none")
    with smtp(emu) as client:
        assert transaction(client, ["ana@example.org"]) == (250, "OK")
    delivered(emu)
    [[queue_id, *_]] = lines(emu)
    assert re.fullmatch(r"[0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2}", queue_id)
    assert queue_id == emu.messages[0].queue_id


@pytest.mark.parametrize(("style", "units_per_second"), [("exim", 2000), ("exim497", 1_000_000)])
def test_exim_id_decodes_to_the_receipt_time(make_xmailer, style, units_per_second):
    emu = make_xmailer(queue_id_style=style)
    emu.set_time(epoch(2018, 11, 8, 4, 0, 44) + 0.25)
    time_part, _, fraction_part = send(emu).split("-")
    received_at = emu.messages[0].received_at
    assert decode62(time_part) == int(received_at)
    assert datetime.datetime.fromtimestamp(decode62(time_part), SP).date() == datetime.date(2018, 11, 8)
    assert decode62(fraction_part) == int((received_at % 1) * units_per_second)


def test_one_transaction_gives_one_id_for_all_recipients(xmailer_emulator):
    queue_id = send(xmailer_emulator, "ana@example.org", "bia@example.org", "caio@example.org")
    delivered(xmailer_emulator)
    rows = lines(xmailer_emulator)
    assert [(row[0], row[2]) for row in rows] == [
        (queue_id, "ana@example.org"),
        (queue_id, "bia@example.org"),
        (queue_id, "caio@example.org"),
    ]


def test_messages_of_one_connection_share_the_process_part_of_their_ids(xmailer_emulator):
    with smtp(xmailer_emulator) as client:
        transaction(client, ["ana@example.org"])
        transaction(client, ["bia@example.org"])
    send(xmailer_emulator)
    first, second, other = (message.queue_id.split("-") for message in xmailer_emulator.messages)
    assert first[1] == second[1] != other[1]
    assert len({message.queue_id for message in xmailer_emulator.messages}) == 3


def test_received_message_keeps_the_envelope_and_the_bytes(xmailer_emulator):
    send(xmailer_emulator, "ana@example.org", "bia@example.org")
    [message] = xmailer_emulator.messages
    assert (message.mail_from, message.rcpt_tos, message.data) == (
        SENDER,
        ["ana@example.org", "bia@example.org"],
        MESSAGE,
    )
    assert message.parsed["Subject"] == "Boleto"
    assert abs(message.received_at - xmailer_emulator.now()) < 5


# -- SMTP: faults -------------------------------------------------------------------------------


def test_drop_after_data_queues_the_message_but_never_answers(xmailer_emulator):
    xmailer_emulator.smtp_inject("drop_after_data")
    with smtp(xmailer_emulator) as client:
        client.mail(SENDER)
        client.rcpt("ana@example.org")
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.data(MESSAGE)
    assert len(xmailer_emulator.messages) == 1  # the ambiguous case: it *was* queued
    send(xmailer_emulator)  # the fault is spent
    assert len(xmailer_emulator.messages) == 2


def test_tempfail_data_answers_451_and_queues_nothing(xmailer_emulator):
    xmailer_emulator.smtp_inject("tempfail_data")
    with smtp(xmailer_emulator) as client:
        code, text = transaction(client, ["ana@example.org"])
    assert (code, text) == (451, "4.3.0 Temporary local problem - please try later")
    assert xmailer_emulator.messages == []


def test_reject_rcpt_refuses_every_recipient_of_the_next_transactions(xmailer_emulator):
    xmailer_emulator.smtp_inject("reject_rcpt", count=1)
    with smtp(xmailer_emulator) as client:
        client.mail(SENDER)
        assert client.rcpt("ana@example.org")[0] == 550
        assert client.rcpt("bia@example.org") == (550, b"5.1.1 <bia@example.org>: Recipient address rejected")
        assert client.docmd("DATA")[0] == 503
        client.rset()
        assert transaction(client, ["ana@example.org"])[0] == 250


def test_auth_fail_refuses_the_right_credentials_count_times(xmailer_emulator):
    xmailer_emulator.smtp_inject("auth_fail", count=2)
    for _ in range(2):
        with pytest.raises(smtplib.SMTPAuthenticationError), smtp(xmailer_emulator):
            pass
    with smtp(xmailer_emulator) as client:
        assert client.noop()[0] == 250


def test_defer_rcpt_answers_451_to_every_recipient(xmailer_emulator):
    xmailer_emulator.smtp_inject("defer_rcpt")
    with smtp(xmailer_emulator) as client:
        client.mail(SENDER)
        assert client.rcpt("ana@example.org")[0] == 451
        assert client.rcpt("bia@example.org")[0] == 451
        assert client.docmd("DATA")[0] == 503
    assert xmailer_emulator.messages == []


def test_rcpt_421_drop_answers_the_second_recipient_and_hangs_up(xmailer_emulator):
    xmailer_emulator.smtp_inject("rcpt_421_drop")
    with smtp(xmailer_emulator) as client:
        client.mail(SENDER)
        assert client.rcpt("ana@example.org")[0] == 250
        code, text = client.rcpt("bia@example.org")
        assert code == 421 and b"closing connection" in text
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.docmd("DATA")
    assert xmailer_emulator.messages == []


def test_too_many_messages_answers_421_at_mail_and_keeps_the_connection_like_exim(xmailer_emulator):
    xmailer_emulator.smtp_inject("too_many_messages")
    with smtp(xmailer_emulator) as client:
        assert client.mail(SENDER) == (421, b"too many messages in this connection")
        assert client.noop()[0] == 250  # still open
        assert client.mail(SENDER)[0] == 421  # and every later MAIL of it gets the same
    send(xmailer_emulator)  # a new connection is fine
    assert len(xmailer_emulator.messages) == 1


def test_a_per_connection_message_limit_like_smtp_accept_max_per_connection(make_xmailer):
    emulator = make_xmailer(smtp_max_messages_per_connection=2)
    with smtp(emulator) as client:
        assert transaction(client, ["ana@example.org"])[0] == 250
        assert transaction(client, ["ana@example.org"])[0] == 250
        assert client.mail(SENDER)[0] == 421
    assert len(emulator.messages) == 2


def test_unrouteable_domains_are_refused_at_mail_and_rcpt_like_exim_verify(xmailer_emulator):
    with smtp(xmailer_emulator) as client:
        assert client.mail("news@nowhere.invalid") == (550, b"Sender verify failed")
        assert client.mail(SENDER)[0] == 250
        assert client.rcpt("bo@nowhere.invalid") == (550, b"Unrouteable address")
        assert client.rcpt("ana@example.org")[0] == 250


def test_a_multi_line_reply_goes_out_in_one_segment(xmailer_emulator):
    """Issue 16 item 5: line-by-line writes met the client's delayed ACK (~40 ms per new connection)."""
    with socket.create_connection(
        (xmailer_emulator.smtp_host, xmailer_emulator.smtp_port), timeout=5
    ) as sock:
        assert sock.recv(4096).startswith(b"220 ")
        sock.sendall(b"EHLO client.example\r\n")
        first_read = sock.recv(65536)
        sock.sendall(b"QUIT\r\n")
    lines = first_read.decode().splitlines()
    assert len(lines) > 2 and lines[0].startswith("250-") and lines[-1].startswith("250 ")
    assert all(line.startswith("250-") for line in lines[:-1])


def test_pipelining_is_offered_and_a_pipelined_group_is_answered_in_order(xmailer_emulator):
    """Exim offers PIPELINING (RFC 2920) to every host by default."""
    with smtp(xmailer_emulator) as client:
        assert client.has_extn("pipelining")
        client.send(
            f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<ana@example.org>\r\nRCPT TO:<bo@nowhere.invalid>\r\nDATA\r\n"
        )
        replies = [client.getreply()[0] for _ in range(4)]
        assert replies == [250, 250, 550, 354]
        client.send(MESSAGE + b".\r\n")
        assert client.getreply()[0] == 250
    (received,) = xmailer_emulator.messages
    assert received.rcpt_tos == ["ana@example.org"]


def test_latency_holds_back_the_greeting_and_auth_too(make_xmailer):
    """A lower bound only (a sleep's minimum is certain): connect and AUTH are one round trip each."""
    emulator = make_xmailer(smtp_tls="none", latency=0.15)
    started = time.monotonic()
    client = smtplib.SMTP(emulator.smtp_host, emulator.smtp_port, timeout=5)
    client.ehlo()
    client.login(emulator.username, emulator.password)
    assert time.monotonic() - started >= 0.3
    client.quit()


def test_the_end_of_data_round_trip_counts_from_the_arrival_not_from_a_busy_loop(make_xmailer, monkeypatch):
    """The relay's one event loop may be busy with other connections when a message's end arrives:
    that wait is part of the emulated round trip, not added to it (concurrent sessions would
    otherwise pay the emulator's own CPU on top of the latency). No timing is asserted: the loop is
    held for at least 0.1 s (a sleep's minimum is certain), so the wait left is at most 0.05 s."""
    import asyncio

    from airflow_provider_mail.testing.xmailer import smtp as relay_module

    emulator = make_xmailer(smtp_tls="none")
    requested: list[float] = []

    class RecordingAsyncio:
        def __getattr__(self, name: str) -> Any:
            return getattr(asyncio, name)

        async def sleep(self, seconds: float) -> None:
            requested.append(seconds)

    def busy_then_latency() -> float:
        time.sleep(0.1)  # the loop serves other connections first
        return 0.15

    with smtp(emulator) as client:
        monkeypatch.setattr(relay_module, "asyncio", RecordingAsyncio())
        monkeypatch.setattr(emulator._relay_handler, "delay", busy_then_latency)
        assert client.sendmail("bill@example.com", ["ana@example.org"], MESSAGE) == {}
    assert len(requested) == 1
    assert requested[0] <= 0.05 + 1e-9


def test_auth_tempfail_answers_454_to_every_auth_of_the_connection(xmailer_emulator):
    xmailer_emulator.smtp_inject("auth_tempfail")
    with pytest.raises(smtplib.SMTPAuthenticationError) as info, smtp(xmailer_emulator):
        pass
    assert info.value.smtp_code == 454
    with smtp(xmailer_emulator) as client:  # spent
        assert client.noop()[0] == 250


def test_unknown_smtp_fault_is_refused(xmailer_emulator):
    with pytest.raises(ValueError, match="unknown SMTP fault"):
        xmailer_emulator.smtp_inject("greylist")


# -- delivery events ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rcpt", "events"),
    [
        ("ana@example.org", [(1.0, "Entregue com sucesso", "delivered")]),
        (
            "ana+hardfail@example.org",
            [
                (
                    1.0,
                    "550 5.1.1 <ana+hardfail@example.org>: Recipient address rejected: User unknown in virtual mailbox table",
                    "failed",
                )
            ],
        ),
        (
            "ana+softfail@example.org",
            [
                (1.0, "451 4.7.1 Greylisting in action, please come back later", "deferred"),
                (3.0, "Entregue com sucesso", "delivered"),
            ],
        ),
        (
            "ana+deferred@example.org",
            [(1.0, "451 4.7.1 Greylisting in action, please come back later", "deferred")],
        ),
    ],
)
def test_recipient_tags_script_the_delivery_events(xmailer_emulator, rcpt, events):
    send(xmailer_emulator, rcpt)
    delivered(xmailer_emulator, 100)
    received_at = xmailer_emulator.messages[0].received_at
    assert [
        (round(event.at - received_at, 3), event.status_text, event.outcome)
        for event in xmailer_emulator.deliveries
    ] == events
    assert len(lines(xmailer_emulator)) == len(events)


def test_delivery_events_follow_the_clock(make_xmailer):
    emu = make_xmailer(delivery_delay=30, softfail_retry=60)
    send(emu, "ana+softfail@example.org")
    assert emu.deliveries == []
    emu.advance(31)
    assert [event.outcome for event in emu.deliveries] == ["deferred"]
    emu.advance(60)
    assert [event.outcome for event in emu.deliveries] == ["deferred", "delivered"]


def test_report_shows_an_event_only_after_the_visibility_lag(make_xmailer):
    emu = make_xmailer(visibility_lag=900)  # the real service refreshes about every 15 minutes
    send(emu)
    emu.advance(5)
    assert len(emu.deliveries) == 1
    assert report(emu).text == ""
    emu.advance(900)
    assert len(lines(emu)) == 1


# -- report: parameters, errors and their order -------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("path", [None, "/report/"])
def test_report_answers_get_and_post_on_both_paths(xmailer_emulator, method, path):
    send(xmailer_emulator)
    delivered(xmailer_emulator)
    response = report(xmailer_emulator, method, path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert response.text.endswith(";Entregue com sucesso\n")


def test_multipart_form_parameters_are_read(xmailer_emulator):
    fields = {"usuario_smtp": "relay@example.com", "senha_smtp": "wrong", **window_around(xmailer_emulator)}
    response = requests.post(
        xmailer_emulator.report_url, files={key: (None, value) for key, value in fields.items()}, timeout=5
    )
    assert response.text == TEXT_ERRORS["207"]


def test_unknown_path_gets_the_web_servers_404(xmailer_emulator):
    response = requests.get(f"{xmailer_emulator.base_url}/http/relatorio.php", timeout=5)
    assert response.status_code == 404 and "Not Found" in response.text


ERROR_CASES = [
    # (parameters changed, codigo) — later checks never run when an earlier one fails
    ({"dataini": None}, "208"),
    ({"horafim": ""}, "208"),
    ({"usuario_smtp": None}, "208"),
    ({"senha_smtp": None, "dataini": "bad"}, "208"),  # missing wins over a bad date
    ({"senha_smtp": "wrong"}, "207"),
    ({"usuario_smtp": "someone@example.com"}, "207"),
    ({"senha_smtp": "wrong", "dataini": "2018/11/04", "horaini": "7h"}, "207"),  # auth before formats
    ({"dataini": "2018/11/04"}, "210"),
    ({"datafim": "04-11-2018"}, "210"),
    ({"dataini": "2018-02-30"}, "210"),
    ({"dataini": "2018-13-01"}, "210"),
    ({"dataini": "2018-11-4"}, "210"),
    ({"datafim": "2018-11-4", "horaini": "25:00"}, "210"),  # dates before times
    ({"horaini": "24:00"}, "211"),
    ({"horafim": "7:00"}, "211"),
    ({"horaini": "07:60"}, "211"),
    ({"horafim": "07:00:00"}, "211"),
]


@pytest.mark.parametrize(("params", "code"), ERROR_CASES)
def test_errors_in_text_format_and_their_order(xmailer_emulator, params, code):
    response = report(xmailer_emulator, **params)
    assert (response.status_code, response.text) == (200, TEXT_ERRORS[code])


@pytest.mark.parametrize(("params", "code"), ERROR_CASES)
def test_errors_in_json_format_and_their_order(make_xmailer, params, code):
    emu = make_xmailer(report_format="json")
    response = report(emu, **params)
    status = TEXT_ERRORS[code].replace("STATUS: ERRO - ", "ERRO: ")
    assert (response.status_code, response.json()) == (200, {"0": {"status": status, "codigo": code}})


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"usuario_smtp": None, "senha_smtp": None, "token_auth": "report-token"}, "ok"),
        ({"usuario_smtp": None, "senha_smtp": None, "token_auth": "wrong"}, TEXT_ERRORS["207"]),
        ({"senha_smtp": "wrong", "token_auth": "report-token"}, "ok"),  # the token decides
        ({"token_auth": "report-token", "dataini": None}, TEXT_ERRORS["208"]),
    ],
)
def test_token_auth_replaces_user_and_password(xmailer_emulator, params, expected):
    response = report(xmailer_emulator, **params)
    assert response.text == ("" if expected == "ok" else expected)
    assert xmailer_emulator.requests[-1].api_status == ("ok" if expected == "ok" else "erro")


def test_request_log_never_keeps_the_password_or_the_token(xmailer_emulator):
    report(xmailer_emulator, "GET", token_auth="report-token")
    report(xmailer_emulator, senha_smtp="wrong")
    get, post = xmailer_emulator.requests
    assert (get.params["senha_smtp"], get.params["token_auth"], post.params["senha_smtp"]) == (
        "***",
        "***",
        "***",
    )
    assert get.params["usuario_smtp"] == "relay@example.com"
    assert "senha_smtp" in get.query_keys and post.query_keys == []
    assert (post.api_key_valid, post.api_status, post.error_code) == (False, "erro", "207")
    dumped = json.dumps([record.as_dict() for record in xmailer_emulator.requests])
    assert "smtp-secret" not in dumped and "report-token" not in dumped


# -- report: window, time zone, visibility ------------------------------------------------------


def test_rows_show_sao_paulo_wall_time_of_the_event(xmailer_emulator):
    xmailer_emulator.set_time(epoch(2018, 11, 8, 4, 0, 44))  # the seed's first sample id
    queue_id = send(xmailer_emulator, "comercial@example.com.br")
    delivered(xmailer_emulator)
    assert lines(xmailer_emulator) == [
        [queue_id, SENDER, "comercial@example.com.br", "08/11/2018", "04:00:45", "Entregue com sucesso"]
    ]


def test_window_ends_inclusive_at_the_end_minute_and_starts_at_its_first_second(xmailer_emulator):
    xmailer_emulator.set_time(epoch(2024, 5, 10, 12, 0, 58))
    send(xmailer_emulator)  # delivered 12:00:59
    delivered(xmailer_emulator)
    day = {"dataini": "2024-05-10", "datafim": "2024-05-10"}
    assert len(lines(xmailer_emulator, **day, horaini="12:00", horafim="12:00")) == 1
    assert lines(xmailer_emulator, **day, horaini="11:00", horafim="11:59") == []
    assert lines(xmailer_emulator, **day, horaini="12:01", horafim="13:00") == []


def test_window_across_midnight(xmailer_emulator):
    xmailer_emulator.set_time(epoch(2024, 3, 9, 23, 59, 50))
    send(xmailer_emulator, "ana@example.org")  # delivered 23:59:51 on the 9th
    xmailer_emulator.advance(15)
    send(xmailer_emulator, "bia@example.org")  # delivered 00:00:06 on the 10th
    delivered(xmailer_emulator)
    both = window(datetime.datetime(2024, 3, 9, 23, 59), datetime.datetime(2024, 3, 10, 0, 0))
    assert [(row[2], row[3], row[4]) for row in lines(xmailer_emulator, **both)] == [
        ("bia@example.org", "10/03/2024", "00:00:06"),
        ("ana@example.org", "09/03/2024", "23:59:51"),
    ]
    after_midnight = window(datetime.datetime(2024, 3, 10, 0, 0), datetime.datetime(2024, 3, 10, 23, 59))
    assert [row[2] for row in lines(xmailer_emulator, **after_midnight)] == ["bia@example.org"]


def test_window_across_the_2018_dst_start(xmailer_emulator):
    # 2018-11-04 00:00 (-03) became 01:00 (-02): the hour 00:00-00:59 never happened.
    xmailer_emulator.set_time(epoch(2018, 11, 3, 23, 59, 50))
    send(xmailer_emulator, "ana@example.org")  # delivered 23:59:51 -03
    xmailer_emulator.advance(20)
    send(xmailer_emulator, "bia@example.org")  # delivered 01:00:11 -02, 21 s later
    delivered(xmailer_emulator)
    both = {"dataini": "2018-11-03", "horaini": "23:59", "datafim": "2018-11-04", "horafim": "01:00"}
    assert [(row[2], row[3], row[4]) for row in lines(xmailer_emulator, **both)] == [
        ("bia@example.org", "04/11/2018", "01:00:11"),
        ("ana@example.org", "03/11/2018", "23:59:51"),
    ]
    skipped_hour = {"dataini": "2018-11-04", "horaini": "00:00", "datafim": "2018-11-04", "horafim": "00:59"}
    assert lines(xmailer_emulator, **skipped_hour) == []


def test_window_across_the_2019_dst_end(xmailer_emulator):
    # 2019-02-17 00:00 (-02) became 2019-02-16 23:00 (-03): 23:00-23:59 happened twice.
    xmailer_emulator.set_time(epoch(2019, 2, 16, 23, 59, 50))
    send(xmailer_emulator, "ana@example.org")  # delivered 23:59:51 -02 (first pass)
    xmailer_emulator.advance(20)
    send(xmailer_emulator, "bia@example.org")  # delivered 23:00:11 -03 (second pass)
    delivered(xmailer_emulator)
    assert xmailer_emulator.messages[1].received_at == pytest.approx(
        epoch(2019, 2, 16, 23, 0, 10, fold=1), abs=1
    )
    repeated_hour = {"dataini": "2019-02-16", "horaini": "23:00", "datafim": "2019-02-16", "horafim": "23:59"}
    assert [(row[2], row[3], row[4]) for row in lines(xmailer_emulator, **repeated_hour)] == [
        ("bia@example.org", "16/02/2019", "23:00:11"),
        ("ana@example.org", "16/02/2019", "23:59:51"),
    ]
    last_minute = {**repeated_hour, "horaini": "23:59"}
    assert [row[2] for row in lines(xmailer_emulator, **last_minute)] == ["ana@example.org"]


def test_rows_come_newest_first(xmailer_emulator):
    send(xmailer_emulator, "ana@example.org")
    xmailer_emulator.advance(60)
    send(xmailer_emulator, "bia@example.org")
    delivered(xmailer_emulator)
    assert [row[2] for row in lines(xmailer_emulator)] == ["bia@example.org", "ana@example.org"]


def test_empty_window_is_an_empty_body(xmailer_emulator):
    send(xmailer_emulator)
    delivered(xmailer_emulator)
    response = report(xmailer_emulator, dataini="2001-01-01", datafim="2001-01-02")
    assert (response.status_code, response.content) == (200, b"")


# -- report: filters, formats, encodings --------------------------------------------------------


@pytest.fixture
def mixed_report(xmailer_emulator: XmailerEmulator) -> XmailerEmulator:
    """Two messages: one from cobranca@ to ana (delivered), bia+hardfail (failed) and
    caio+deferred (deferred); one from avisos@ to ana (delivered)."""
    send(xmailer_emulator, "ana@example.org", "bia+hardfail@example.org", "caio+deferred@example.org")
    xmailer_emulator.advance(5)
    send(xmailer_emulator, "ana@example.org", sender="avisos@envio.example.com.br")
    delivered(xmailer_emulator)
    return xmailer_emulator


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"1:ana", "0:ana", "0:bia+hardfail", "0:caio+deferred"}),
        ({"status": "sucesso"}, {"1:ana", "0:ana"}),
        ({"status": "erro"}, {"0:bia+hardfail", "0:caio+deferred"}),
        ({"status": "todos"}, {"1:ana", "0:ana", "0:bia+hardfail", "0:caio+deferred"}),
        ({"emaildestino": "ANA@Example.org"}, {"1:ana", "0:ana"}),
        ({"remetente": "Avisos@envio.example.com.br"}, {"1:ana"}),
        (
            {"remetente": SENDER, "status": "erro", "emaildestino": "bia+hardfail@example.org"},
            {"0:bia+hardfail"},
        ),
        ({"emaildestino": "nobody@example.org"}, set()),
    ],
)
def test_filters(mixed_report, params, expected):
    first, second = (message.queue_id for message in mixed_report.messages)
    label = {first: "0", second: "1"}
    assert {f"{label[row[0]]}:{row[2].split('@')[0]}" for row in lines(mixed_report, **params)} == expected


def test_id_mensagem_filters_one_queue_id(mixed_report):
    second = mixed_report.messages[1].queue_id
    assert [row[0] for row in lines(mixed_report, idMensagem=second)] == [second]


def test_json_report_rows(make_xmailer):
    emu = make_xmailer(report_format="json")
    emu.set_time(epoch(2018, 11, 8, 4, 0, 44))
    queue_id = send(emu, "ana@example.org", "bia+hardfail@example.org")
    delivered(emu)
    response = report(emu, dataini="2018-11-08", horaini="00:00", datafim="2018-11-08", horafim="23:59")
    assert response.text.startswith('{"0":{"msgid":') and "08\\/11\\/2018" in response.text  # PHP escapes "/"
    row = {"msgid": queue_id, "email_de": SENDER, "data": "08/11/2018", "hora": "04:00:45"}
    assert response.json() == {
        "0": {**row, "email_para": "ana@example.org", "status": "Entregue com sucesso"},
        "1": {
            **row,
            "email_para": "bia+hardfail@example.org",
            "status": "550 5.1.1 <bia+hardfail@example.org>: Recipient address rejected: User unknown in virtual mailbox table",
        },
    }
    assert list(response.json()["0"]) == ["msgid", "email_de", "email_para", "data", "hora", "status"]


def test_empty_json_report_is_an_empty_object(make_xmailer):
    emu = make_xmailer(report_format="json")
    assert report(emu).text == "{}"


def test_report_format_can_change_while_running(xmailer_emulator):
    xmailer_emulator.report_format = "json"
    assert report(xmailer_emulator).text == "{}"
    with pytest.raises(ValueError, match="report_format"):
        xmailer_emulator.report_format = "xml"


@pytest.mark.parametrize(
    ("encoding", "report_format", "expected"),
    [
        ("utf-8", "text", "joão@exemplo.com.br".encode()),
        ("latin-1", "text", "joão@exemplo.com.br".encode("latin-1")),
        ("latin-1", "json", "joão@exemplo.com.br".encode("latin-1")),
    ],
)
def test_report_encoding(make_xmailer, encoding, report_format, expected):
    emu = make_xmailer(report_encoding=encoding, report_format=report_format)
    with smtp(emu) as client:
        client.mail(SENDER, ["SMTPUTF8"])
        assert client.rcpt("joão@exemplo.com.br")[0] == 250
        assert client.data(MESSAGE)[0] == 250
    delivered(emu)
    response = report(emu)
    assert response.headers["Content-Type"] == "text/html; charset=UTF-8"  # even when it lies
    assert expected in response.content
    if encoding == "latin-1":
        with pytest.raises(UnicodeDecodeError):
            response.content.decode("utf-8")


def test_added_rows_follow_the_real_ones_in_both_formats(xmailer_emulator):
    send(xmailer_emulator)
    delivered(xmailer_emulator)
    xmailer_emulator.add_report_rows(
        [
            {
                "msgid": "1grzDQ-000866-0o",
                "email_de": "a@b.br",
                "email_para": "c@d.br",
                "data": "08/11/2018",
                "hora": "04:01:45",
                "status": "Entregue com sucesso",
            },
            "1grzDQ-000866-0o;broken",
            {"msgid": "1grzDc-00086s-9P", "status": "552 5.2.2 Mailbox full"},
        ]
    )
    text = report(xmailer_emulator).text.splitlines()
    assert text[1:] == [
        "1grzDQ-000866-0o;a@b.br;c@d.br;08/11/2018;04:01:45;Entregue com sucesso",
        "1grzDQ-000866-0o;broken",
        "1grzDc-00086s-9P;;;;;552 5.2.2 Mailbox full",
    ]
    xmailer_emulator.report_format = "json"
    rows = report(xmailer_emulator).json()
    assert (rows["2"], rows["3"]) == (
        "1grzDQ-000866-0o;broken",
        {"msgid": "1grzDc-00086s-9P", "status": "552 5.2.2 Mailbox full"},
    )


# -- report: synthetic, streamed reports --------------------------------------------------------


@pytest.mark.parametrize("report_format", ["text", "json"])
def test_synthetic_report_with_malformed_rows(make_xmailer, report_format):
    emu = make_xmailer(report_format=report_format)
    emu.serve_synthetic_report(12, malformed_every=3)
    response = report(emu)
    assert response.headers["Transfer-Encoding"] == "chunked"
    if report_format == "text":
        rows = response.text.splitlines()
        well_formed = [
            row for row in rows if re.fullmatch(r"[^;]+;[^;]+;[^;]+;\d\d/\d\d/\d{4};\d\d:\d\d:\d\d;.+", row)
        ]
    else:
        rows = list(response.json().values())
        well_formed = [row for row in rows if isinstance(row, dict) and len(row) == 6 and "/" in row["data"]]
    assert (len(rows), len(well_formed)) == (12, 8)
    emu.serve_synthetic_report(0)
    assert report(emu).text == ("" if report_format == "text" else "{}")


@pytest.mark.parametrize(
    ("lines", "horaini", "horafim", "newest", "oldest"),
    [
        (5, "10:00", "10:00", "10:00:32", "10:00:28"),  # one row a second, centred
        (30_000, "09:00", "10:59", "10:27:46", "09:32:13"),  # 9 a second, centred
    ],
)
def test_synthetic_rows_sit_in_the_middle_half_of_the_window(
    xmailer_emulator, lines, horaini, horafim, newest, oldest
):
    xmailer_emulator.serve_synthetic_report(lines)
    day = {"dataini": "2018-11-08", "datafim": "2018-11-08", "horaini": horaini, "horafim": horafim}
    rows = [row.split(";") for row in report(xmailer_emulator, **day).text.splitlines()]
    assert len(rows) == lines and len({row[0] for row in rows}) == lines
    assert (rows[0][3:5], rows[-1][3:5]) == (["08/11/2018", newest], ["08/11/2018", oldest])
    assert all(decode62(row[0][:6]) == int(epoch(2018, 11, 8, *map(int, row[4].split(":")))) for row in rows)


def test_synthetic_report_still_checks_the_parameters(xmailer_emulator):
    xmailer_emulator.serve_synthetic_report(1000)
    assert report(xmailer_emulator, senha_smtp="wrong").text == TEXT_ERRORS["207"]


def test_truncated_fault_cuts_a_streamed_report_inside_its_first_chunk(xmailer_emulator):
    xmailer_emulator.serve_synthetic_report(100_000)
    xmailer_emulator.inject(Fault.TRUNCATED_JSON)
    response = report(xmailer_emulator)
    assert response.status_code == 200 and 0 < len(response.content) < 64 * 1024
    assert not response.text.endswith("\n") or response.text.count("\n") < 512


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM line")


@contextmanager
def cli(tmp_path: Path, *arguments: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Run ``python -m airflow_provider_mail.testing xmailer`` until the block ends (SIGTERM)."""
    ready = tmp_path / "xmailer.url"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_mail.testing",
            "xmailer",
            "--smtp-port",
            "0",
            "--http-port",
            "0",
            "--ready-file",
            str(ready),
            *arguments,
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
        yield process, ready.read_text().strip()
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc for peak RSS")
def test_million_line_report_is_streamed_in_bounded_memory(tmp_path):
    with cli(tmp_path, "--smtp-tls", "none") as (process, url):
        requests.post(
            f"{url}/_emulator/synthetic-report", json={"lines": 1_000_000, "malformed_every": 1000}, timeout=5
        )
        before = _peak_rss_kib(process.pid)
        host, port = url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        body = "usuario_smtp=relay%40example.com&senha_smtp=smtp-secret&dataini=2020-01-01&horaini=00:00&datafim=2020-01-01&horafim=00:00"
        connection.request(
            "POST", "/http/report.php", body, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        response = connection.getresponse()
        assert (
            response.getheader("Transfer-Encoding") == "chunked"
            and response.getheader("Content-Length") is None
        )
        newlines = size = 0
        while chunk := response.read(1 << 20):
            newlines += chunk.count(b"\n")
            size += len(chunk)
        connection.close()
        growth_mib = (_peak_rss_kib(process.pid) - before) / 1024
    assert newlines == 1_000_000 and size > 100 * 1024 * 1024
    assert growth_mib < 32, (
        f"the emulator's peak RSS grew by {growth_mib:.0f} MiB for a {size >> 20} MiB body"
    )


# -- HTTP faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "marker"),
    [
        (Fault.HTTP_502, 502, "nginx"),
        (Fault.HTTP_503, 503, "nginx"),
        (Fault.NON_JSON_200, 200, "We'll be back soon"),
    ],
)
def test_http_faults_hit_the_report_endpoint(xmailer_emulator, fault, status, marker):
    xmailer_emulator.inject(fault)
    response = report(xmailer_emulator)
    assert (response.status_code, marker in response.text) == (status, True)
    assert report(xmailer_emulator).text == ""  # spent
    assert [record.fault for record in xmailer_emulator.requests] == [fault.name, None]


def test_reset_before_body_breaks_the_connection(xmailer_emulator):
    xmailer_emulator.inject("RESET_BEFORE_BODY")
    with pytest.raises(requests.ConnectionError):
        report(xmailer_emulator)


# -- admin interface, Python API, plugin, CLI -----------------------------------------------------


def test_admin_health_describes_both_servers(xmailer_emulator):
    health = admin(xmailer_emulator, "GET", "health").json()
    assert (health["status"], health["service"], health["smtp_port"], health["ca_cert_path"]) == (
        "ok",
        "xmailer",
        xmailer_emulator.smtp_port,
        xmailer_emulator.ca_cert_path,
    )
    assert health["report_url"] == xmailer_emulator.report_url


def test_admin_lists_messages_deliveries_and_requests(xmailer_emulator):
    queue_id = send(xmailer_emulator, "ana+hardfail@example.org")
    delivered(xmailer_emulator)
    report(xmailer_emulator)
    [message] = admin(xmailer_emulator, "GET", "messages").json()
    assert (message["queue_id"], message["subject"], base64.b64decode(message["data"])) == (
        queue_id,
        "Boleto",
        MESSAGE,
    )
    [event] = admin(xmailer_emulator, "GET", "deliveries").json()
    assert (event["queue_id"], event["outcome"]) == (queue_id, "failed")
    [record] = admin(xmailer_emulator, "GET", "requests").json()
    assert (record["path"], record["params"]["senha_smtp"]) == ("/http/report.php", "***")


def test_admin_drives_faults_rows_synthetic_reports_and_config(xmailer_emulator):
    assert admin(xmailer_emulator, "POST", "smtp-faults", {"name": "tempfail_data", "count": 2}).json() == {
        "tempfail_data": 2
    }
    assert admin(xmailer_emulator, "POST", "faults", {"fault": "HTTP_503"}).ok
    assert report(xmailer_emulator).status_code == 503
    assert admin(xmailer_emulator, "POST", "report-rows", {"rows": ["x;y"]}).json() == {"rows": 1}
    assert report(xmailer_emulator).text == "x;y\n"
    assert (
        admin(xmailer_emulator, "POST", "config", {"report_format": "json", "visibility_lag": 2}).json()[
            "report_format"
        ]
        == "json"
    )
    assert xmailer_emulator.visibility_lag == 2.0
    assert admin(xmailer_emulator, "POST", "synthetic-report", {"lines": 3}).ok
    assert len(report(xmailer_emulator).json()) == 3
    assert admin(xmailer_emulator, "POST", "config", {"flavour": "x"}).status_code == 400
    assert admin(xmailer_emulator, "POST", "smtp-faults", {"name": "nope"}).status_code == 400


def test_admin_moves_the_clock_forward_and_to_an_absolute_time(xmailer_emulator):
    target = epoch(2018, 11, 3, 23, 0)
    assert admin(xmailer_emulator, "POST", "time", {"epoch": target}).json()["now"] == pytest.approx(
        target, abs=1
    )
    assert admin(xmailer_emulator, "POST", "advance", {"seconds": 60}).json()["now"] == pytest.approx(
        target + 60, abs=1
    )
    assert xmailer_emulator.now() == pytest.approx(target + 60, abs=1)


def test_reset_clears_state_but_keeps_ports_and_settings(make_xmailer):
    emu = make_xmailer(report_format="json")
    ports = (emu.smtp_port, emu.http_port)
    emu.set_time(epoch(2018, 1, 1, 12, 0))
    send(emu)
    emu.smtp_inject("auth_fail")
    emu.inject(Fault.HTTP_503)
    emu.add_report_rows(["x"])
    assert admin(emu, "POST", "reset").ok
    assert (emu.messages, emu.deliveries, emu.requests) == ([], [], [])
    assert abs(emu.now() - time.time()) < 5
    send(emu)  # neither fault survived
    assert report(emu).text == "{}"
    assert (emu.smtp_port, emu.http_port, emu.report_format) == (*ports, "json")


def test_restart_keeps_ports_and_certificate(xmailer_emulator):
    ports, certificate = (
        (xmailer_emulator.smtp_port, xmailer_emulator.http_port),
        xmailer_emulator.ca_cert_path,
    )
    xmailer_emulator.stop()
    with pytest.raises(ConnectionRefusedError):
        smtplib.SMTP(xmailer_emulator.smtp_host, xmailer_emulator.smtp_port, timeout=2)
    xmailer_emulator.start()
    assert ((xmailer_emulator.smtp_port, xmailer_emulator.http_port), xmailer_emulator.ca_cert_path) == (
        ports,
        certificate,
    )
    send(xmailer_emulator)


@pytest.mark.parametrize(
    ("smtp_tls", "connection_tls"), [("starttls", "starttls"), ("implicit", "ssl"), ("none", "none")]
)
def test_airflow_connection_json(make_xmailer, smtp_tls, connection_tls):
    emu = make_xmailer(smtp_tls=smtp_tls)
    assert json.loads(emu.airflow_connection(auth_mode="token")) == {
        "conn_type": "xmailer",
        "host": "127.0.0.1",
        "port": emu.http_port,
        "schema": "http",
        "login": "relay@example.com",
        "password": "smtp-secret",
        "extra": {
            "smtp_host": "127.0.0.1",
            "smtp_port": emu.smtp_port,
            "smtp_tls": connection_tls,
            "smtp_ca_file": emu.ca_cert_path,
            "report_path": "/http/report.php",
            "auth_mode": "token",
        },
    }


def test_airflow_conn_fixture_sets_the_environment(xmailer_airflow_conn):
    assert os.environ["AIRFLOW_CONN_XMAILER_DEFAULT"] == xmailer_airflow_conn.airflow_connection()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"smtp_tls": "tls"}, "smtp_tls"),
        ({"report_format": "csv"}, "report_format"),
        ({"report_encoding": "cp1252"}, "report_encoding"),
        ({"queue_id_style": "sendmail"}, "queue_id_style"),
        ({"delivery_delay": -1}, "delivery_delay"),
        ({"report_path": "report.php"}, "report_path"),
    ],
)
def test_bad_settings_are_refused_before_anything_starts(setting, message):
    with pytest.raises(ValueError, match=message):
        XmailerEmulator(**setting)


def test_ca_cert_path_and_connection_need_a_started_emulator():
    emu = XmailerEmulator()
    with pytest.raises(RuntimeError, match="start the emulator first"):
        _ = emu.ca_cert_path
    with pytest.raises(RuntimeError, match="start the emulator first"):
        emu.airflow_connection()


def test_context_manager_starts_and_stops():
    with XmailerEmulator() as emu:
        assert admin(emu, "GET", "health").ok
        send(emu)
    with pytest.raises(requests.ConnectionError):
        admin(emu, "GET", "health")


def test_cli_serves_until_sigterm(tmp_path):
    with cli(tmp_path, "--smtp-tls", "implicit", "--report-format", "json") as (process, url):
        health = requests.get(f"{url}/_emulator/health", timeout=5).json()
        assert (health["smtp_tls"], health["report_format"]) == ("implicit", "json")
        emu_port = health["smtp_port"]
        context = ssl.create_default_context(cafile=health["ca_cert_path"])
        with smtplib.SMTP_SSL("127.0.0.1", emu_port, context=context, timeout=5) as client:
            client.login("relay@example.com", "smtp-secret")
            assert client.sendmail(SENDER, ["ana@example.org"], MESSAGE) == {}
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert (
        stdout.splitlines()[0]
        == f"xmailer emulator: smtp on 127.0.0.1:{emu_port}, report on {url}/http/report.php"
    )


def test_streamed_report_to_an_http_1_0_client_ends_with_the_connection(xmailer_emulator):
    xmailer_emulator.serve_synthetic_report(2000)
    fields = {
        "usuario_smtp": "relay@example.com",
        "senha_smtp": "smtp-secret",
        **window_around(xmailer_emulator),
    }
    query = "&".join(f"{key}={value}" for key, value in fields.items())
    with socket.create_connection(
        (xmailer_emulator.smtp_host, xmailer_emulator.http_port), timeout=5
    ) as sock:
        sock.sendall(f"GET /http/report.php?{query} HTTP/1.0\r\n\r\n".encode())
        received = b"".join(iter(lambda: sock.recv(65536), b""))
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding" not in head and b"Connection: close" in head
    assert body.count(b"\n") == 2000
