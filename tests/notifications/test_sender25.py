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
        "reply_to",
        "tag",
        "headers",
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
