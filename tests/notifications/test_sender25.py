"""Sender25Notifier: readable defaults, templating, sync and async delivery against the emulator."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from airflow_provider_mail._compat import DAG
from airflow_provider_mail.notifications.sender25 import (
    Sender25Notifier,
    describe_event,
    send_sender25_notification,
)
from airflow_provider_mail.testing import Fault


def failure_context(**extra):
    ti = SimpleNamespace(
        dag_id="billing",
        task_id="load",
        run_id="scheduled__2026-11-22",
        try_number=2,
        state="failed",
        map_index=-1,
        log_url="http://airflow.local/log?x=1&y=2",
    )
    return {
        "ti": ti,
        "dag": DAG("billing", schedule=None),
        "exception": ValueError("file <missing>"),
        "ds": "2026-11-22",
        "params": {},
        **extra,
    }


def test_default_mail_is_readable_and_escaped(sender25_conn):
    notifier = Sender25Notifier(to="oncall@example.org", from_email="airflow@example.com")
    notifier.notify(failure_context())
    (message,) = sender25_conn.messages()
    assert message.subject == "Airflow: billing.load failed (try 2)"
    for fact in (
        "Dag: billing",
        "Task: load",
        "Run: scheduled__2026-11-22",
        "Try: 2",
        "State: failed",
        "Exception: file <missing>",
        "Log: http://airflow.local/log?x=1&y=2",
    ):
        assert fact in message.plain_body
    assert "file &lt;missing&gt;" in message.html_body
    assert '<a href="http://airflow.local/log?x=1&amp;y=2">' in message.html_body
    assert message.tag == "airflow-alert"


@pytest.mark.parametrize("missing", ["ti", "exception", "everything"])
def test_a_missing_context_key_never_crashes(sender25_conn, missing):
    context = {} if missing == "everything" else {k: v for k, v in failure_context().items() if k != missing}
    Sender25Notifier(to="oncall@example.org", from_email="airflow@example.com").notify(context)
    (message,) = sender25_conn.messages()
    assert message.subject.startswith("Airflow: ")


def test_every_argument_is_templated(sender25_conn):
    notifier = send_sender25_notification(
        to="{{ params.team }}@example.org",
        from_email="{{ params.team }}-bot@example.com",
        subject="[{{ ds }}] {{ ti.task_id }}",
        plain_body="Falhou: {{ exception }}",
        cc="cc-{{ ds }}@example.org",
        bcc="bcc@example.org",
        reply_to="{{ params.team }}@example.com",
        tag="{{ params.team }}",
        headers={"X-Team": "{{ params.team }}"},
        sender25_conn_id="{{ params.conn }}",
    )
    assert set(notifier.template_fields) >= {
        "to",
        "from_email",
        "subject",
        "html_body",
        "plain_body",
        "cc",
        "bcc",
        "sender",
        "reply_to",
        "tag",
        "headers",
        "attachments",
        "sender25_conn_id",
    }
    context = failure_context(params={"team": "dados", "conn": "sender25_default"})
    notifier.render_template_fields(context)
    notifier.notify(context)
    (send,) = [r for r in sender25_conn.requests if r.path.endswith("send/message")]
    params = send.params
    assert (params["to"], params["from"], params["subject"]) == (
        ["dados@example.org"],
        "dados-bot@example.com",
        "[2026-11-22] load",
    )
    assert (params["cc"], params["reply_to"], params["tag"]) == (
        ["cc-2026-11-22@example.org"],
        "dados@example.com",
        "dados",
    )
    assert params["plain_body"] == "Falhou: file <missing>" and params["headers"]["X-Team"] == "dados"


def test_async_notify_sends_from_an_event_loop(sender25_conn):
    notifier = Sender25Notifier(to="oncall@example.org", from_email="airflow@example.com")
    asyncio.run(notifier.async_notify(failure_context()))
    (message,) = sender25_conn.messages()
    assert message.subject == "Airflow: billing.load failed (try 2)"


def test_async_notify_uses_the_connection_sender(monkeypatch, sender25_emulator):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SENDER25_DEFAULT", sender25_emulator.airflow_connection(from_email="c@example.com")
    )
    asyncio.run(Sender25Notifier(to="oncall@example.org").async_notify(failure_context()))
    assert sender25_emulator.messages()[0].mail_from == "c@example.com"


def test_a_failed_notification_raises(sender25_conn):
    sender25_conn.suspended = True
    with pytest.raises(Exception, match="ServerSuspended"):
        Sender25Notifier(to="oncall@example.org", from_email="airflow@example.com").notify(failure_context())


def test_async_send_is_never_repeated_after_an_ambiguous_fault(sender25_conn):
    from airflow_provider_mail.exceptions import AmbiguousSendError

    sender25_conn.inject(Fault.RESET_AFTER_BODY, count=5)
    with pytest.raises(AmbiguousSendError):
        asyncio.run(
            Sender25Notifier(to="o@example.org", from_email="a@example.com").async_notify(failure_context())
        )
    assert len([r for r in sender25_conn.requests if r.path.endswith("send/message")]) == 1


def test_describe_event_leaves_out_what_is_unknown():
    assert describe_event({"run_id": "r1"}) == {"run": "r1"}


# -- issue 4: like the official notifiers: **kwargs to BaseNotifier, [email] email_conn_id, files ----------


def test_extra_keyword_arguments_reach_base_notifier_where_airflow_takes_them():
    from airflow_provider_mail._compat import AIRFLOW_V_3_1_PLUS

    notifier = Sender25Notifier(to="oncall@example.org", context={"run_id": "r1"})
    if AIRFLOW_V_3_1_PLUS:  # BaseNotifier(context=...) exists since Airflow 3.1
        assert notifier.context == {"run_id": "r1"}
    else:
        assert not hasattr(notifier, "context")


def test_the_connection_defaults_to_the_email_conn_id_option(monkeypatch, sender25_emulator):
    monkeypatch.delenv("AIRFLOW_CONN_SENDER25_DEFAULT", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_ALERTS_MAIL", sender25_emulator.airflow_connection())
    monkeypatch.setenv("AIRFLOW__EMAIL__EMAIL_CONN_ID", "alerts_mail")
    Sender25Notifier(to="oncall@example.org", from_email="airflow@example.com").notify(failure_context())
    assert [m.rcpt_to for m in sender25_emulator.messages()] == ["oncall@example.org"]


@pytest.mark.parametrize("option", [None, "smtp_default"], ids=["unset", "airflow-default"])
def test_without_an_email_conn_id_of_ours_the_connection_is_sender25_default(
    monkeypatch, sender25_conn, option
):
    if option is None:
        monkeypatch.delenv("AIRFLOW__EMAIL__EMAIL_CONN_ID", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW__EMAIL__EMAIL_CONN_ID", option)
    Sender25Notifier(to="oncall@example.org", from_email="airflow@example.com").notify(failure_context())
    assert len(sender25_conn.messages()) == 1


def test_an_explicit_connection_wins_over_the_email_conn_id_option(monkeypatch, sender25_conn):
    monkeypatch.setenv("AIRFLOW__EMAIL__EMAIL_CONN_ID", "no_such_connection")
    notifier = Sender25Notifier(
        to="oncall@example.org", from_email="airflow@example.com", sender25_conn_id="sender25_default"
    )
    notifier.notify(failure_context())
    assert len(sender25_conn.messages()) == 1


@pytest.fixture
def report_file(tmp_path):
    path = tmp_path / "falhas-2026-11-22.csv"
    path.write_bytes(b"tarefa;erro\nload;arquivo ausente\n")
    return path


def test_attachments_are_attached_and_templated(sender25_conn, report_file):
    notifier = Sender25Notifier(
        to="oncall@example.org",
        from_email="airflow@example.com",
        attachments=["{{ params.dir }}/falhas-{{ ds }}.csv"],
    )
    context = failure_context(params={"dir": str(report_file.parent)})
    notifier.render_template_fields(context)
    notifier.notify(context)
    (message,) = sender25_conn.messages()
    assert message.attachments == [("falhas-2026-11-22.csv", "text/csv", report_file.read_bytes())]


def test_async_notify_attaches_files(sender25_conn, report_file):
    notifier = Sender25Notifier(
        to="oncall@example.org", from_email="airflow@example.com", attachments=str(report_file)
    )
    asyncio.run(notifier.async_notify(failure_context()))
    (message,) = sender25_conn.messages()
    assert [name for name, _, _ in message.attachments] == ["falhas-2026-11-22.csv"]


def test_a_missing_file_fails_before_anything_is_sent(sender25_conn, tmp_path):
    from airflow_provider_mail.exceptions import MailValidationError

    notifier = Sender25Notifier(
        to="oncall@example.org", from_email="airflow@example.com", attachments=[str(tmp_path / "nope.csv")]
    )
    with pytest.raises(MailValidationError):
        notifier.notify(failure_context())
    assert not [r for r in sender25_conn.requests if r.path.endswith("send/message")]


def test_files_is_the_deprecated_name_of_attachments(sender25_conn, report_file):
    from airflow.exceptions import AirflowProviderDeprecationWarning

    with pytest.warns(AirflowProviderDeprecationWarning, match="attachments"):
        notifier = Sender25Notifier(
            to="oncall@example.org", from_email="airflow@example.com", files=str(report_file)
        )
    notifier.notify(failure_context())
    (message,) = sender25_conn.messages()
    assert [name for name, _, _ in message.attachments] == ["falhas-2026-11-22.csv"]
    with pytest.raises(TypeError, match="not both"):
        Sender25Notifier(to="a@example.org", files="a.csv", attachments="b.csv")


def test_the_notifier_sets_the_sender_header_like_the_operators(sender25_conn):
    notifier = Sender25Notifier(
        to="oncall@example.org", from_email="airflow@example.com", sender="robot@example.com"
    )
    notifier.notify(failure_context())
    (send,) = [r for r in sender25_conn.requests if r.path.endswith("send/message")]
    assert send.params["sender"] == "robot@example.com"
