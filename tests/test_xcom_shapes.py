"""The XCom shapes documented in :mod:`airflow_provider_mail.xcom` are what the senders return, and
``XmailerSmtpHook.send_message`` takes the same message arguments as ``Sender25Hook.send_message``."""

from __future__ import annotations

from typing import get_type_hints

from airflow_provider_mail.attachments import Attachment
from airflow_provider_mail.hooks.xmailer import XmailerSmtpHook
from airflow_provider_mail.xcom import Sender25MessageIds, Sender25SendResult, XmailerSendResult


def keys(shape) -> set[str]:
    return set(get_type_hints(shape))


def test_a_sender25_send_returns_the_documented_shape(hook):
    sent = hook.send_message(
        to=["ana@example.org", "bo@example.org"], from_email="n@example.com", subject="s", plain_body="b"
    )
    assert set(sent) == keys(Sender25SendResult)
    assert all(set(ids) == keys(Sender25MessageIds) for ids in sent["messages"].values())


def test_xmailer_send_message_takes_the_shared_names_and_returns_the_documented_shape(xmailer_airflow_conn):
    sent = XmailerSmtpHook().send_message(
        to="Ana <ana@example.org>; bo@example.org",
        from_email="Acme <n@example.com>",
        subject="Recibo",
        plain_body="Obrigado",
        html_body="<p>Obrigado</p>",
        reply_to="sac@example.com",
        headers={"X-Order": "42"},
        attachments=[Attachment("recibo.txt", b"R$ 10,00\n"), ("nota.csv", b"a;b\n", "text/csv")],
    )
    assert set(sent) == keys(XmailerSendResult)
    assert sent["accepted"] == ["ana@example.org", "bo@example.org"] and sent["refused"] == {}
    (received,) = xmailer_airflow_conn.messages
    assert received.queue_id == sent["queue_id"]
    assert received.parsed["X-Order"] == "42" and received.parsed["Reply-To"] == "sac@example.com"
    names = [part.get_filename() for part in received.parsed.iter_attachments()]
    assert names == ["recibo.txt", "nota.csv"]
