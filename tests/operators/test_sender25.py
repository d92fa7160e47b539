"""Sender25SendEmailOperator / Sender25SendRawOperator: Airflow's real template rendering and execute()
against the emulator. Whole DAG runs are in tests/test_example_dags.py."""

from __future__ import annotations

import base64
import json
from email.message import EmailMessage
from types import SimpleNamespace

import pytest

from airflow_provider_mail._compat import DAG
from airflow_provider_mail._shared.task_context import TRACE_HEADER
from airflow_provider_mail.exceptions import (
    AmbiguousSendError,
    MailConfigurationError,
    MailValidationError,
)
from airflow_provider_mail.operators.sender25 import Sender25SendEmailOperator, Sender25SendRawOperator
from airflow_provider_mail.testing import Fault


def task_context(**extra):
    ti = SimpleNamespace(
        dag_id="billing", task_id="send", run_id="manual__2026-11-22", map_index=-1, try_number=1
    )
    return {"ti": ti, "ds": "2026-11-22", "params": {}, **extra}


def run(operator, **context_extra):
    context = task_context(**context_extra)
    operator.render_template_fields(context)
    return operator.execute(context)


def make(operator_class=Sender25SendEmailOperator, dag=None, **kwargs):
    defaults = {"task_id": "send", "to": "ana@example.org", "from_email": "n@example.com", "plain_body": "hi"}
    if operator_class is Sender25SendRawOperator:
        defaults = {"task_id": "send"}
    return operator_class(**{**defaults, **kwargs}, dag=dag)


def received_recipients(emulator):
    return sorted(m.rcpt_to for m in emulator.messages())


# -- XCom and trace --------------------------------------------------------------------------------
def test_returns_small_json_with_ids_and_adds_the_trace_header(sender25_conn):
    result = run(make(to=["ana@example.org", "bo@example.org"]))
    assert json.loads(json.dumps(result)) == result
    assert set(result) == {"message_id", "messages"}
    assert set(result["messages"]) == {"ana@example.org", "bo@example.org"}
    (first, _) = sender25_conn.messages()
    trace = first.headers[TRACE_HEADER]
    assert trace == "dag_id=billing; task_id=send; run_id=manual__2026-11-22; map_index=-1; try_number=1"


# -- address forms ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("to", "expected"),
    [
        pytest.param("ana@example.org", ["ana@example.org"], id="single"),
        pytest.param(["ana@example.org", "bo@example.org"], ["ana@example.org", "bo@example.org"], id="list"),
        pytest.param("ana@example.org, bo@example.org", ["ana@example.org", "bo@example.org"], id="comma"),
        pytest.param("ana@example.org;bo@example.org", ["ana@example.org", "bo@example.org"], id="semicolon"),
        pytest.param(
            '"Silva, João" <joao@example.org>; bo@example.org',
            ["bo@example.org", "joao@example.org"],
            id="display-name-with-comma-and-accent",
        ),
        pytest.param("José <jose@bücher.example>", ["jose@xn--bcher-kva.example"], id="idn-domain"),
        pytest.param("Ana@Example.org, ana@example.org", ["Ana@example.org"], id="case-insensitive-dedupe"),
    ],
)
def test_address_forms(sender25_conn, to, expected):
    run(make(to=to))
    assert received_recipients(sender25_conn) == sorted(expected)


def test_display_names_reach_the_to_header_decoded_correctly(sender25_conn):
    run(make(to='"Silva, João" <joao@example.org>'))
    (message,) = sender25_conn.messages()
    (address,) = message.headers["To"].addresses
    assert (address.display_name, address.addr_spec) == ("Silva, João", "joao@example.org")


# -- sender precedence -----------------------------------------------------------------------------
def test_sender_argument_wins(sender25_conn, monkeypatch):
    monkeypatch.setenv("AIRFLOW__EMAIL__FROM_EMAIL", "config@example.com")
    run(make(from_email="arg@example.com"))
    assert sender25_conn.messages()[0].mail_from == "arg@example.com"


def test_sender_falls_back_to_the_connection_extra(monkeypatch, sender25_emulator):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SENDER25_DEFAULT", sender25_emulator.airflow_connection(from_email="conn@example.com")
    )
    monkeypatch.setenv("AIRFLOW__EMAIL__FROM_EMAIL", "config@example.com")
    run(make(from_email=None))
    assert sender25_emulator.messages()[0].mail_from == "conn@example.com"


def test_sender_falls_back_to_airflow_email_config(sender25_conn, monkeypatch):
    monkeypatch.setenv("AIRFLOW__EMAIL__FROM_EMAIL", "Airflow <config@example.com>")
    run(make(from_email=None))
    assert sender25_conn.messages()[0].mail_from == "config@example.com"


def test_no_sender_anywhere_names_the_three_places(sender25_conn, monkeypatch):
    monkeypatch.delenv("AIRFLOW__EMAIL__FROM_EMAIL", raising=False)
    with pytest.raises(MailConfigurationError) as info:
        run(make(from_email=None))
    assert all(place in str(info.value) for place in ("from_email=", "connection", "[email] from_email"))
    assert sender25_conn.requests == []


# -- attachments -----------------------------------------------------------------------------------
def test_attachment_forms(sender25_conn, tmp_path):
    local = tmp_path / "relatório.csv"
    local.write_bytes("número;1\n".encode())
    on_storage = tmp_path / "nota.pdf"
    on_storage.write_bytes(b"%PDF-1.4 nota")
    run(
        make(
            attachments=[
                str(local),
                f"file://{on_storage}",
                ("dados.bin", b"\x00\x01", "application/x-raw"),
                {"name": "x.json", "data": b"{}"},
            ]
        )
    )
    (message,) = sender25_conn.messages()
    assert message.attachments == [
        ("relatório.csv", "text/csv", "número;1\n".encode()),
        ("nota.pdf", "application/pdf", b"%PDF-1.4 nota"),
        ("dados.bin", "application/x-raw", b"\x00\x01"),
        ("x.json", "application/json", b"{}"),
    ]


def test_attachment_path_is_templated_and_txt_paths_are_not_read_as_templates(sender25_conn, tmp_path):
    (tmp_path / "report-2026-11-22.txt").write_text("{{ not rendered }}")
    run(make(attachments=[str(tmp_path / "report-{{ ds }}.txt")]))
    (message,) = sender25_conn.messages()
    assert message.attachments == [("report-2026-11-22.txt", "text/plain", b"{{ not rendered }}")]


def test_attachments_over_the_limit_fail_before_sending_naming_the_file(sender25_conn, tmp_path):
    (tmp_path / "big.bin").write_bytes(b"x" * 3000)
    with pytest.raises(MailValidationError) as info:
        run(make(attachments=[("small.txt", b"ok"), str(tmp_path / "big.bin")], max_attachment_size=4000))
    assert info.value.code == "AttachmentTooLarge"
    assert "'big.bin'" in str(info.value) and "4,004" in str(info.value)  # 3002 bytes -> 4004 in base64
    assert sender25_conn.requests == []


def test_a_missing_attachment_file_is_named(sender25_conn, tmp_path):
    with pytest.raises(MailValidationError, match=r"nope\.pdf") as info:
        run(make(attachments=[str(tmp_path / "nope.pdf")]))
    assert info.value.code == "AttachmentNotFound"


# -- every pre-send validation error names its argument ---------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "code", "argument"),
    [
        pytest.param({"to": None}, "NoRecipients", "`to`", id="no-recipients"),
        pytest.param(
            {"to": [f"r{i}@example.org" for i in range(51)]}, "TooManyToAddresses", "`to`", id="to-51"
        ),
        pytest.param(
            {"cc": [f"r{i}@example.org" for i in range(51)]}, "TooManyCCAddresses", "`cc`", id="cc-51"
        ),
        pytest.param(
            {"bcc": [f"r{i}@example.org" for i in range(51)]}, "TooManyBCCAddresses", "`bcc`", id="bcc-51"
        ),
        pytest.param({"plain_body": None}, "NoContent", "`plain_body`", id="no-content"),
        pytest.param({"to": "ana@example"}, "InvalidAddress", "`to`", id="bad-to"),
        pytest.param({"cc": "x@@example.org"}, "InvalidAddress", "`cc`", id="bad-cc"),
        pytest.param({"bcc": "<b@example.org"}, "InvalidAddress", "`bcc`", id="bad-bcc"),
        pytest.param({"from_email": "noreply"}, "InvalidAddress", "`from_email`", id="bad-from"),
        pytest.param({"sender": "s@"}, "InvalidAddress", "`sender`", id="bad-sender"),
        pytest.param({"reply_to": "r at example.org"}, "InvalidAddress", "`reply_to`", id="bad-reply-to"),
        pytest.param({"subject": "a\nb"}, "HeaderInjection", "`subject`", id="subject-newline"),
        pytest.param({"tag": "a\rb"}, "HeaderInjection", "`tag`", id="tag-newline"),
        pytest.param(
            {"headers": {"X-A": "1\r\nBcc: v@example.org"}},
            "HeaderInjection",
            "headers['X-A']",
            id="header-injection",
        ),
        pytest.param(
            {"attachments": [("", b"x")]}, "AttachmentMissingName", "attachments[0]", id="att-no-name"
        ),
        pytest.param(
            {"attachments": [("a.txt", b"")]}, "AttachmentMissingData", "attachments[0]", id="att-no-data"
        ),
        pytest.param({"attachments": [42]}, "InvalidArgument", "attachments[0]", id="att-wrong-type"),
        pytest.param({"bounce": "yes"}, "InvalidArgument", "`bounce`", id="bounce-not-bool"),
    ],
)
def test_pre_send_validation_names_the_argument(sender25_conn, kwargs, code, argument):
    with pytest.raises(MailValidationError) as info:
        run(make(**kwargs))
    assert info.value.code == code
    assert argument in str(info.value)
    assert sender25_conn.requests == []


# -- template rendering of every templated field -----------------------------------------------------
def test_every_templated_field_is_rendered(monkeypatch, sender25_emulator, tmp_path):
    monkeypatch.setenv("AIRFLOW_CONN_RENDERED_CONN", sender25_emulator.airflow_connection())
    (tmp_path / "body.html").write_text("<p>Olá {{ params.name }}</p>")
    (tmp_path / "body.txt").write_text("Olá {{ params.name }}")
    (tmp_path / "file-2026-11-22.csv").write_text("a;b")
    dag = DAG("templated", schedule=None, template_searchpath=[str(tmp_path)])
    operator = make(
        dag=dag,
        to="{{ params.name | lower }}@example.org",
        cc="cc-{{ ds }}@example.org",
        bcc="bcc-{{ params.name | lower }}@example.org",
        from_email="{{ params.name }} <from@example.com>",
        sender="sender-{{ params.name | lower }}@example.com",
        reply_to="reply-{{ params.name | lower }}@example.com",
        subject="Fatura {{ ds }}",
        html_body="body.html",
        plain_body="body.txt",
        tag="tag-{{ params.name | lower }}",
        headers={"X-Day": "{{ ds }}"},
        attachments=[str(tmp_path / "file-{{ ds }}.csv")],
        bounce="{{ params.bounce }}",
        sender25_conn_id="{{ params.conn }}",
    )
    assert set(operator.template_fields) == {
        "to",
        "cc",
        "bcc",
        "from_email",
        "sender",
        "reply_to",
        "subject",
        "html_body",
        "plain_body",
        "tag",
        "headers",
        "attachments",
        "bounce",
        "sender25_conn_id",
    }
    context = task_context(params={"name": "Ana", "bounce": False, "conn": "rendered_conn"})
    operator.render_template_fields(context)
    operator.bounce = operator.bounce == "True"
    operator.execute(context)
    (send,) = sender25_emulator.requests
    params = send.params
    assert params["to"] == ["ana@example.org"]
    assert params["cc"] == ["cc-2026-11-22@example.org"]
    assert params["bcc"] == ["bcc-ana@example.org"]
    assert params["from"] == "Ana <from@example.com>"
    assert params["sender"] == "sender-ana@example.com"
    assert params["reply_to"] == "reply-ana@example.com"
    assert params["subject"] == "Fatura 2026-11-22"
    assert params["html_body"] == "<p>Olá Ana</p>"
    assert params["plain_body"] == "Olá Ana"
    assert params["tag"] == "tag-ana"
    assert params["headers"]["X-Day"] == "2026-11-22"
    assert params["attachments"][0]["name"] == "file-2026-11-22.csv"
    assert base64.b64decode(params["attachments"][0]["data"]) == b"a;b"


def test_nothing_is_resolved_or_fetched_in_init(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_SENDER25_DEFAULT", raising=False)
    operator = make(sender25_conn_id="does_not_exist", attachments=["/no/such/file.pdf"])
    assert "hook" not in operator.__dict__


# -- ambiguous sends --------------------------------------------------------------------------------
def test_an_ambiguous_send_fails_without_retry_and_says_what_to_check(sender25_conn):
    sender25_conn.inject(Fault.HTTP_504)
    with pytest.raises(AmbiguousSendError) as info:
        run(make())
    text = str(info.value)
    assert "NOT retried" in text and f"{TRACE_HEADER}: dag_id=billing; task_id=send" in text
    assert len(sender25_conn.accepted_sends()) == 1


# -- raw operator -----------------------------------------------------------------------------------
def _message(**headers):
    message = EmailMessage()
    for name, value in {
        "From": "Acme <n@example.com>",
        "To": "ana@example.org",
        "Subject": "Raw",
        **headers,
    }.items():
        message[name] = value
    message.set_content("raw body ç")
    return message


@pytest.mark.parametrize("form", ["message", "bytes", "str"])
def test_raw_operator_accepts_message_bytes_and_text(sender25_conn, form):
    message = _message(**{"Message-ID": "<fixed@example.com>"})
    value = {"message": message, "bytes": message.as_bytes(), "str": message.as_string()}[form]
    result = run(
        make(Sender25SendRawOperator, mail_from="n@example.com", rcpt_to="ana@example.org", message=value)
    )
    assert result["message_id"] == "fixed@example.com"
    (stored,) = sender25_conn.messages()
    assert stored.headers[TRACE_HEADER].startswith("dag_id=billing")
    assert stored.plain_body.strip() == "raw body ç"


def test_raw_operator_adds_a_message_id_when_missing(sender25_conn):
    result = run(
        make(
            Sender25SendRawOperator,
            mail_from="n@example.com",
            rcpt_to=["ana@example.org"],
            message=_message(),
        )
    )
    assert result["message_id"] and result["message_id"].endswith("@example.com")
    assert sender25_conn.messages()[0].message_id == result["message_id"]


def test_raw_operator_renders_an_eml_template_file(sender25_conn, tmp_path):
    (tmp_path / "note.eml").write_text(
        "From: n@example.com\nTo: ana@example.org\nSubject: Dia {{ ds }}\n\nCorpo\n"
    )
    dag = DAG("raw_eml", schedule=None, template_searchpath=[str(tmp_path)])
    run(
        make(
            Sender25SendRawOperator,
            dag=dag,
            mail_from="n@example.com",
            rcpt_to="ana@example.org",
            message="note.eml",
        )
    )
    (stored,) = sender25_conn.messages()
    assert stored.subject == "Dia 2026-11-22"
    assert b"\r\nSubject: Dia 2026-11-22\r\n" in stored.raw


@pytest.mark.parametrize(
    ("message", "code"),
    [(b"Subject: x\r\n\r\nno from", "FromAddressMissing"), (b"", "InvalidArgument"), (42, "InvalidArgument")],
)
def test_raw_operator_refuses_messages_without_from_before_sending(sender25_conn, message, code):
    with pytest.raises(MailValidationError) as info:
        run(
            make(Sender25SendRawOperator, mail_from="n@example.com", rcpt_to="a@example.org", message=message)
        )
    assert info.value.code == code
    assert sender25_conn.requests == []


def test_raw_operator_names_an_eml_template_that_is_not_utf8(sender25_conn, tmp_path):
    """Issue 10 item 12: Jinja's raw UnicodeDecodeError becomes a named error that says what to do."""
    (tmp_path / "latin1.eml").write_bytes("From: n@example.com\nSubject: Olá\n\nCorpo\n".encode("latin-1"))
    dag = DAG("raw_latin1", schedule=None, template_searchpath=[str(tmp_path)])
    operator = make(
        Sender25SendRawOperator,
        dag=dag,
        mail_from="n@example.com",
        rcpt_to="a@example.org",
        message="latin1.eml",
    )
    with pytest.raises(MailValidationError, match="not UTF-8"):
        run(operator)
    assert sender25_conn.requests == []


@pytest.mark.parametrize("headers", [["X-A: 1"], "X-A: 1", 42])
def test_headers_that_are_not_a_mapping_are_a_named_error(sender25_conn, headers):
    with pytest.raises(MailValidationError) as info:
        run(make(headers=headers))
    assert info.value.code == "InvalidArgument"
    assert sender25_conn.requests == []
