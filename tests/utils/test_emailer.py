"""The [email] backend, reached through Airflow's own ``send_email`` by configuration."""

from __future__ import annotations

import pytest

from airflow_provider_mail.exceptions import Sender25ValidationError


@pytest.fixture
def configured_backend(monkeypatch, sender25_conn):
    monkeypatch.setenv("AIRFLOW__EMAIL__EMAIL_BACKEND", "airflow_provider_mail.utils.emailer.send_email")
    monkeypatch.setenv("AIRFLOW__EMAIL__EMAIL_CONN_ID", "sender25_default")
    monkeypatch.setenv("AIRFLOW__EMAIL__FROM_EMAIL", "Airflow <airflow@example.com>")
    return sender25_conn


def test_airflow_send_email_is_routed_through_sender25(configured_backend, tmp_path):
    from airflow.utils.email import send_email

    report = tmp_path / "report.csv"
    report.write_text("a;b\n")
    send_email(
        to="ana@example.org, bo@example.org",
        subject="Relatório",
        html_content="<p>ok</p>",
        files=[str(report)],
        cc="cc@example.org",
        custom_headers={"X-Source": "airflow"},
    )
    messages = configured_backend.messages()
    assert sorted(m.rcpt_to for m in messages) == ["ana@example.org", "bo@example.org", "cc@example.org"]
    first = messages[0]
    assert (first.subject, first.html_body, first.mail_from) == (
        "Relatório",
        "<p>ok</p>",
        "airflow@example.com",
    )
    assert first.attachments == [("report.csv", "text/csv", b"a;b\n")]
    assert first.headers["X-Source"] == "airflow"


def test_the_backend_raises_on_a_rejected_send(configured_backend, monkeypatch):
    from airflow.utils.email import send_email

    monkeypatch.setenv("AIRFLOW__EMAIL__FROM_EMAIL", "x@not-verified.example")
    with pytest.raises(Sender25ValidationError) as info:
        send_email(to="ana@example.org", subject="s", html_content="<p>x</p>")
    assert info.value.code == "UnauthenticatedFromAddress"


def test_dryrun_validates_but_sends_nothing(configured_backend):
    from airflow.utils.email import send_email

    send_email(to="ana@example.org", subject="s", html_content="<p>x</p>", dryrun=True)
    assert configured_backend.requests == []
    with pytest.raises(Sender25ValidationError):
        send_email(to="not-an-address", subject="s", html_content="<p>x</p>", dryrun=True)
