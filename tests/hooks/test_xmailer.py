"""xmailer hooks over real loopback SMTP and HTTP against the emulator."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_mail._compat import AirflowFailException
from airflow_provider_mail._shared.mime import build_email_message
from airflow_provider_mail._transport.http import HttpRequest
from airflow_provider_mail._xmailer.exim import parse_queue_id
from airflow_provider_mail._xmailer.report_parser import Outcome, ReportParser
from airflow_provider_mail.exceptions import (
    AmbiguousSendError,
    MailConfigurationError,
    MailProviderError,
    MailValidationError,
    WentOut,
    XmailerAuthError,
    XmailerBadDate,
    XmailerBadTime,
    XmailerMissingParameters,
    XmailerRecipientsRefused,
    XmailerSmtpAuthError,
    XmailerSmtpError,
    XmailerTransportError,
    send_outcome_of,
)
from airflow_provider_mail.hooks.xmailer import XmailerReportHook, XmailerSmtpHook
from airflow_provider_mail.testing import Fault, XmailerEmulator

FAST = {"retry_backoff": 0.01, "timeout": 5}


@pytest.fixture
def xmailer(monkeypatch, xmailer_emulator: XmailerEmulator) -> XmailerEmulator:
    monkeypatch.setenv("AIRFLOW_CONN_XMAILER_DEFAULT", xmailer_emulator.airflow_connection(**FAST))
    return xmailer_emulator


def message(to=("ana@example.org",), **kwargs):
    return build_email_message(
        to=list(to), from_email="Acme <news@example.com>", subject="Oi", plain_body="Olá", **kwargs
    )


def report_rows(emulator, **kwargs):
    emulator.advance(60)
    now = datetime.fromtimestamp(emulator.now(), timezone.utc)
    return list(XmailerReportHook().get_report(now - timedelta(hours=1), now, **kwargs))


# -- SMTP --------------------------------------------------------------------------------------------
def test_a_sent_message_appears_in_the_report_with_the_same_queue_id(xmailer):
    result = XmailerSmtpHook().send(message(to=["ana@example.org", "bo+hardfail@example.org"]))
    (received,) = xmailer.messages
    assert result["queue_id"] == received.queue_id
    assert result["accepted"] == ["ana@example.org", "bo+hardfail@example.org"] and result["refused"] == {}
    rows = {row.recipient: row for row in report_rows(xmailer)}
    assert {row.queue_id for row in rows.values()} == {result["queue_id"]}
    assert rows["ana@example.org"].outcome is Outcome.DELIVERED
    assert rows["bo+hardfail@example.org"].outcome is Outcome.FAILED
    assert rows["bo+hardfail@example.org"].smtp_code == 550


def test_the_queue_id_encodes_the_receive_time(xmailer):
    result = XmailerSmtpHook().send(message())
    parsed = parse_queue_id(result["queue_id"])
    assert parsed is not None
    assert abs(parsed.received_at.timestamp() - xmailer.messages[0].received_at) < 1.5


def test_data_is_crlf_and_bcc_stays_out_of_the_headers(xmailer):
    XmailerSmtpHook().send(message(bcc="hidden@example.org", cc="c@example.org"))
    (received,) = xmailer.messages
    assert received.rcpt_tos == ["ana@example.org", "c@example.org", "hidden@example.org"]
    assert b"\r\nSubject: Oi\r\n" in received.data and b"hidden@" not in received.data
    assert received.tls and received.authenticated_as == xmailer.username


@pytest.mark.parametrize("smtp_tls", ["starttls", "implicit", "none"])
def test_every_tls_mode_sends(monkeypatch, smtp_tls):
    with XmailerEmulator(smtp_tls=smtp_tls) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_XMAILER_DEFAULT", emulator.airflow_connection(**FAST))
        assert XmailerSmtpHook().send(message())["queue_id"] == emulator.messages[0].queue_id
        assert emulator.messages[0].tls is (smtp_tls != "none")


@pytest.mark.parametrize(("style", "expected"), [("exim497", 23), ("postfix", None), ("none", 0)])
def test_queue_id_reply_styles(monkeypatch, style, expected):
    with XmailerEmulator(queue_id_style=style) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_XMAILER_DEFAULT", emulator.airflow_connection(**FAST))
        queue_id = XmailerSmtpHook().send(message())["queue_id"]
        if expected == 0:
            assert queue_id is None
        elif expected is None:
            assert queue_id == emulator.messages[0].queue_id
        else:
            assert len(queue_id) == expected and parse_queue_id(queue_id).style == "exim497"


def test_a_wrong_password_is_a_fatal_auth_error(monkeypatch, xmailer_emulator):
    monkeypatch.setenv(
        "AIRFLOW_CONN_XMAILER_DEFAULT",
        xmailer_emulator.airflow_connection(**FAST).replace(xmailer_emulator.password, "wrong"),
    )
    with pytest.raises(XmailerSmtpAuthError) as info:
        XmailerSmtpHook().send(message())
    assert info.value.smtp_code == 535 and "wrong" not in str(info.value)
    assert xmailer_emulator.messages == []


def test_refused_recipients_are_reported_not_dropped(xmailer):
    xmailer.smtp_inject("reject_rcpt")
    with pytest.raises(XmailerRecipientsRefused) as info:
        XmailerSmtpHook().send(message(to=["a@example.org", "b@example.org"]))
    assert set(info.value.refused) == {"a@example.org", "b@example.org"}
    assert all(reply.startswith("550") for reply in info.value.refused.values())
    assert xmailer.messages == []


def test_a_drop_after_data_is_ambiguous_and_never_resent(xmailer):
    xmailer.smtp_inject("drop_after_data", count=5)
    with pytest.raises(AmbiguousSendError) as info:
        XmailerSmtpHook().send(message())
    assert "NOT re-sent" in str(info.value) and info.value.service == "xmailer"
    assert len(xmailer.messages) == 1  # it was queued once


def test_a_temporary_refusal_at_end_of_data_is_not_ambiguous(xmailer):
    xmailer.smtp_inject("tempfail_data", count=10)
    hook = XmailerSmtpHook()
    hook._sleep = lambda _: None
    with pytest.raises(XmailerSmtpError) as info:
        hook.send(message())
    assert not isinstance(info.value, AmbiguousSendError) and info.value.smtp_code == 451
    assert not isinstance(info.value, AirflowFailException)  # 4xx: Airflow's retry may succeed
    assert send_outcome_of(info.value).went_out is WentOut.NOTHING
    assert xmailer.messages == []


def test_a_temporary_refusal_at_end_of_data_is_retried_and_queued_once(xmailer):
    xmailer.smtp_inject("tempfail_data", count=1)
    hook = XmailerSmtpHook()
    waits: list[float] = []
    hook._sleep = waits.append
    result = hook.send(message())
    assert result["queue_id"] and len(waits) == 1
    assert len(xmailer.messages) == 1


def test_a_closed_smtp_port_is_retried_then_raises_transport_error(monkeypatch, xmailer_emulator):
    conn = xmailer_emulator.airflow_connection(**FAST, max_retries=2)
    monkeypatch.setenv(
        "AIRFLOW_CONN_XMAILER_DEFAULT",
        conn.replace(f'"smtp_port": {xmailer_emulator.smtp_port}', '"smtp_port": 1'),
    )
    hook = XmailerSmtpHook()
    waits: list[float] = []
    hook._sleep = waits.append
    with pytest.raises(XmailerTransportError):
        hook.send(message())
    assert len(waits) == 2


def test_plain_smtp_to_a_remote_host_is_refused(make_conn):
    make_conn(
        "xmailer_default",
        conn_type="xmailer",
        login="u",
        password="p",
        extra={"smtp_host": "smtp.example.com", "smtp_tls": "none"},
    )
    with pytest.raises(MailConfigurationError, match="clear text"):
        XmailerSmtpHook().settings  # noqa: B018


def test_smtp_test_connection(xmailer):
    assert XmailerSmtpHook().test_connection()[0]


# -- report --------------------------------------------------------------------------------------
@pytest.mark.parametrize("report_format", ["text", "json"])
def test_both_formats_give_the_same_rows(monkeypatch, report_format):
    with XmailerEmulator(report_format=report_format) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_XMAILER_DEFAULT", emulator.airflow_connection(**FAST))
        XmailerSmtpHook().send(message(to=["a@example.org", "b+softfail@example.org"]))
        rows = report_rows(emulator)
    assert sorted((r.recipient, r.outcome.value) for r in rows) == [
        ("a@example.org", "delivered"),
        ("b+softfail@example.org", "deferred"),
        ("b+softfail@example.org", "delivered"),
    ]


def test_the_report_is_a_post_and_the_password_is_not_in_the_url_or_log(xmailer, caplog):
    caplog.set_level(logging.DEBUG)
    report_rows(xmailer)
    (request,) = xmailer.requests
    assert request.method == "POST" and xmailer.password not in request.path
    assert xmailer.password not in caplog.text


def test_token_auth(monkeypatch, xmailer_emulator):
    conn = xmailer_emulator.airflow_connection(**FAST, auth="token").replace(
        f'"password": "{xmailer_emulator.password}"', f'"password": "{xmailer_emulator.token}"'
    )
    monkeypatch.setenv("AIRFLOW_CONN_XMAILER_DEFAULT", conn)
    assert report_rows(xmailer_emulator) == []
    assert "token_auth" in xmailer_emulator.requests[0].params


def test_filters_reach_the_service(xmailer):
    XmailerSmtpHook().send(message(to=["a@example.org", "b+hardfail@example.org"]))
    rows = report_rows(xmailer, status="failed", recipient="b+hardfail@example.org")
    assert [r.recipient for r in rows] == ["b+hardfail@example.org"]
    params = xmailer.requests[-1].params
    assert params["status"] == "erro" and params["emaildestino"] == "b+hardfail@example.org"


def test_rows_not_yet_visible_are_simply_absent(monkeypatch):
    with XmailerEmulator(visibility_lag=900) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_XMAILER_DEFAULT", emulator.airflow_connection(**FAST))
        XmailerSmtpHook().send(message())
        assert report_rows(emulator) == []  # 60 s later: still inside the 15-minute lag
        emulator.advance(900)
        assert len(report_rows(emulator)) == 1


def test_a_wrong_report_password_raises_auth_error(monkeypatch, xmailer_emulator):
    conn = xmailer_emulator.airflow_connection(**FAST).replace(
        f'"password": "{xmailer_emulator.password}"', '"password": "nope"'
    )
    monkeypatch.setenv("AIRFLOW_CONN_XMAILER_DEFAULT", conn)
    with pytest.raises(XmailerAuthError):
        report_rows(xmailer_emulator)


@pytest.mark.parametrize(
    ("drop_or_change", "error"),
    [
        ({"drop": "dataini"}, XmailerMissingParameters),
        ({"dataini": "22/11/2026"}, XmailerBadDate),
        ({"horafim": "25h"}, XmailerBadTime),
    ],
)
def test_every_error_line_of_the_service_raises_its_exception(xmailer, drop_or_change, error):
    """The hook never sends these (it validates first), so the request is built by hand here."""
    hook = XmailerReportHook()
    params = {
        "usuario_smtp": hook.settings.username,
        "senha_smtp": hook.settings.password,
        "dataini": "2026-11-22",
        "horaini": "10:00",
        "datafim": "2026-11-22",
        "horafim": "11:00",
    }
    params.pop(drop_or_change.pop("drop", None), None)
    params.update(drop_or_change)
    response = hook._driver.send(HttpRequest("POST", hook.settings.report_url, form=params))
    with pytest.raises(error):
        list(ReportParser(hook.settings.timezone).parse([response.body]))


def test_report_faults_are_retried_then_raise_transport_error(xmailer):
    xmailer.inject(Fault.HTTP_503, count=10)
    hook = XmailerReportHook()
    hook._sleep = lambda _: None
    now = datetime.now(timezone.utc)
    with pytest.raises(XmailerTransportError):
        list(hook.get_report(now - timedelta(hours=1), now))
    assert len(xmailer.requests) == 4


def test_invalid_windows_fail_before_any_request(xmailer):
    with pytest.raises(MailValidationError):
        XmailerReportHook().get_report(
            datetime(2026, 1, 2, tzinfo=timezone.utc), datetime(2026, 1, 1, tzinfo=timezone.utc)
        )
    with pytest.raises(MailValidationError):
        XmailerReportHook().get_report("2026-01-01", "2026-01-02", status="bounced")
    assert xmailer.requests == []


@pytest.mark.parametrize(
    "moment",
    [
        pytest.param(datetime(2018, 11, 4, 3, 10, tzinfo=timezone.utc), id="dst-starts-2018"),
        pytest.param(datetime(2019, 2, 17, 2, 20, tzinfo=timezone.utc), id="dst-ends-2019-second-23h"),
        pytest.param(datetime(2019, 2, 17, 1, 20, tzinfo=timezone.utc), id="dst-ends-2019-first-23h"),
        pytest.param(datetime(2026, 11, 22, 2, 59, 30, tzinfo=timezone.utc), id="just-before-midnight"),
    ],
)
def test_windows_across_dst_changes_and_midnight_find_the_row(xmailer, moment):
    xmailer.set_time(moment.timestamp())
    result = XmailerSmtpHook().send(message())
    xmailer.advance(120)
    rows = list(XmailerReportHook().get_report(moment - timedelta(minutes=5), moment + timedelta(minutes=5)))
    (row,) = rows
    assert row.queue_id == result["queue_id"]
    assert abs((row.delivered_at - moment).total_seconds() - xmailer.delivery_delay) < 2


def test_report_test_connection(xmailer):
    assert XmailerReportHook().test_connection()[0]


def test_smtp_errors_from_smtplib_never_leak_the_password(monkeypatch, xmailer_emulator, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(smtplib.SMTP, "debuglevel", 0)
    monkeypatch.setenv(
        "AIRFLOW_CONN_XMAILER_DEFAULT",
        xmailer_emulator.airflow_connection(**FAST).replace(xmailer_emulator.password, "s3cr3t-x"),
    )
    with pytest.raises(XmailerSmtpAuthError) as info:
        XmailerSmtpHook().send(message())
    assert "s3cr3t-x" not in f"{info.value!r} {caplog.text}"


def test_a_relay_that_hangs_up_before_data_is_retried_and_queues_once(xmailer):
    """Issue 10 item 17: nothing was queued before DATA, so the whole transaction is tried again."""
    xmailer.smtp_inject("drop_before_data", count=1)
    hook = XmailerSmtpHook()
    waits: list[float] = []
    hook._sleep = waits.append
    result = hook.send(message())
    assert result["queue_id"] and len(waits) == 1
    assert len(xmailer.messages) == 1


def test_a_relay_that_keeps_hanging_up_before_data_ends_with_a_transport_error(xmailer):
    xmailer.smtp_inject("drop_before_data", count=10)
    hook = XmailerSmtpHook()
    hook._sleep = lambda _: None
    with pytest.raises(XmailerTransportError, match="hung up before DATA"):
        hook.send(message())
    assert xmailer.messages == []


def test_test_connection_checks_the_report_and_the_relay(xmailer):
    """Issue 10 item 7: the login is the SMTP login, so the relay is checked too (no mail sent)."""
    ok, text = XmailerReportHook().test_connection()
    assert ok and "report endpoint" in text and "SMTP relay" in text
    xmailer.smtp_inject("auth_fail", count=5)
    ok, text = XmailerReportHook().test_connection()
    assert not ok and "SMTP relay" in text and "XmailerSmtpAuthError" in text
    assert xmailer.messages == []


def test_test_connection_names_a_dead_relay(monkeypatch, xmailer_emulator):
    conn = xmailer_emulator.airflow_connection(**FAST, max_retries=0)
    monkeypatch.setenv(
        "AIRFLOW_CONN_XMAILER_DEFAULT",
        conn.replace(f'"smtp_port": {xmailer_emulator.smtp_port}', '"smtp_port": 1'),
    )
    ok, text = XmailerSmtpHook().test_connection()
    assert not ok and "report endpoint" in text and "could not reach the SMTP relay" in text


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_report_filters_apply_client_side_when_the_server_ignores_them(monkeypatch, driver):
    """Issue 10 item 9: the documented report.php has no idMensagem; a server that ignores a filter
    returns every row, and the client still hands out only the matching ones."""
    from tests._transport.fault_server import FaultServer, define_connections

    with FaultServer("ok") as server:  # answers every report request with the same 2,000 rows
        define_connections(monkeypatch, "ok", server.port, {"max_retries": 0})
        hook = XmailerReportHook(xmailer_conn_id="matrix_xmailer")
        start, end = "2026-11-22T00:00:00-03:00", "2026-11-23T00:00:00-03:00"

        def rows(**filters):
            if driver == "sync":
                return list(hook.get_report(start, end, **filters))
            assert set(filters) <= {"queue_id"}  # the async stream takes the queue id only

            async def collect():
                return [row async for row in hook.aiter_report(start, end, **filters)]

            return asyncio.run(collect())

        assert len(rows()) == 2000
        assert rows(queue_id="1grzDQ-000866-0p") == []
        assert len(rows(queue_id="1grzDQ-000866-0o")) == 2000
        if driver == "sync":
            assert len(rows(recipient="ANA@Example.org")) == 2000
            assert rows(recipient="bo@example.org") == []
            assert rows(sender="someone@example.org") == []


# -- what went out, by the phase of each SMTP reply (issue 15 items 4, 5, 7) -------------------------
def test_every_recipient_refused_is_nothing_sent(xmailer):
    xmailer.smtp_inject("reject_rcpt")
    with pytest.raises(XmailerRecipientsRefused) as info:
        XmailerSmtpHook().send(message(to=["a@example.org", "b@example.org"]))
    outcome = send_outcome_of(info.value)
    assert outcome.went_out is WentOut.NOTHING and outcome.accepted == ()
    assert outcome.refused["a@example.org"][0] == 550
    assert xmailer.messages == []


def test_fail_on_refused_keeps_the_queue_id_and_the_refusals(xmailer):
    """The relay refuses a domain it cannot route at RCPT (Exim's verify = recipient)."""
    built = message(to=["ana@example.org", "bad@nowhere.invalid"])
    with pytest.raises(XmailerRecipientsRefused) as info:
        XmailerSmtpHook().send(built, fail_on_refused=True)
    (received,) = xmailer.messages
    outcome = send_outcome_of(info.value)
    assert outcome.went_out is WentOut.SOME
    assert outcome.accepted == ("ana@example.org",) and set(outcome.refused) == {"bad@nowhere.invalid"}
    assert outcome.queue_id == received.queue_id and outcome.message_id == built.message_id


def test_421_at_mail_on_a_kept_connection_reconnects_and_sends(xmailer):
    """Exim's per-connection limit: 421 at MAIL, the connection left open. Not a failure of the send."""
    waits: list[float] = []
    with XmailerSmtpHook() as hook:
        hook._sleep = waits.append
        hook.send(message())
        xmailer.smtp_inject("too_many_messages")
        result = hook.send(message())
        session = hook.get_conn()
    assert result["queue_id"] and len(xmailer.messages) == 2
    assert session.connections == 2 and waits == []


def test_a_per_connection_limit_is_met_by_new_connections(monkeypatch):
    from airflow_provider_mail.testing import XmailerEmulator

    with XmailerEmulator(smtp_max_messages_per_connection=3) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_XMAILER_DEFAULT", emulator.airflow_connection(**FAST))
        with XmailerSmtpHook() as hook:
            results = [hook.send(message()) for _ in range(7)]
            assert hook.get_conn().connections == 3
        assert len({r["queue_id"] for r in results}) == 7 and len(emulator.messages) == 7


def test_421_at_rcpt_then_a_hang_up_is_nothing_sent_not_ambiguous(xmailer):
    xmailer.smtp_inject("rcpt_421_drop", count=10)
    hook = XmailerSmtpHook()
    hook._sleep = lambda _: None
    with pytest.raises(MailProviderError) as info:
        hook.send(message(to=["a@example.org", "b@example.org"]))
    assert not isinstance(info.value, AmbiguousSendError)
    assert send_outcome_of(info.value).went_out is WentOut.NOTHING
    assert xmailer.messages == []


def test_421_at_rcpt_once_is_retried_and_sent_once(xmailer):
    xmailer.smtp_inject("rcpt_421_drop", count=1)
    hook = XmailerSmtpHook()
    hook._sleep = lambda _: None
    result = hook.send(message(to=["a@example.org", "b@example.org"]))
    assert result["accepted"] == ["a@example.org", "b@example.org"] and len(xmailer.messages) == 1


def test_451_at_rcpt_for_every_recipient_is_transient_not_fatal(xmailer):
    xmailer.smtp_inject("defer_rcpt", count=10)
    hook = XmailerSmtpHook()
    waits: list[float] = []
    hook._sleep = waits.append
    with pytest.raises(XmailerSmtpError) as info:
        hook.send(message(to=["a@example.org", "b@example.org"]))
    assert not isinstance(info.value, AirflowFailException)  # Airflow's retries apply
    assert send_outcome_of(info.value).went_out is WentOut.NOTHING
    assert len(waits) == 3 and xmailer.messages == []
    assert all(reply.startswith("451") for reply in info.value.refused.values())  # type: ignore[attr-defined]


def test_a_5xx_at_mail_is_fatal_and_nothing_sent(xmailer):
    hook = XmailerSmtpHook()
    waits: list[float] = []
    hook._sleep = waits.append
    with pytest.raises(XmailerSmtpError) as info:
        hook.send(
            build_email_message(
                to=["ana@example.org"], from_email="news@nowhere.invalid", subject="Oi", plain_body="x"
            )
        )
    assert isinstance(info.value, AirflowFailException) and info.value.smtp_code == 550
    assert send_outcome_of(info.value).went_out is WentOut.NOTHING and waits == []


def test_the_smtp_hook_has_no_http_session(xmailer):
    hook = XmailerSmtpHook()
    assert not hasattr(hook, "session")
    with hook:
        conn = hook.get_conn()
        assert type(conn).__name__ == "XmailerSmtpSession"
        hook.send(message())
        hook.send(message())
        assert conn.connections == 1
    assert len(xmailer.messages) == 2


def test_a_temporary_auth_failure_is_retried_not_fatal(xmailer):
    """454 at AUTH (the relay cannot check passwords now) is a 4xx like any other: tried again."""
    xmailer.smtp_inject("auth_tempfail", count=1)
    hook = XmailerSmtpHook()
    waits: list[float] = []
    hook._sleep = waits.append
    assert hook.send(message())["queue_id"] and len(waits) == 1
    xmailer.smtp_inject("auth_tempfail", count=10)
    with pytest.raises(XmailerSmtpError) as info:
        hook.send(message())
    assert info.value.smtp_code == 454 and not isinstance(info.value, AirflowFailException)
    assert send_outcome_of(info.value).went_out is WentOut.NOTHING
