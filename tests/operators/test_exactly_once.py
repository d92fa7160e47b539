"""Exactly once across tries, at the operator level: execute() called as Airflow's tries would call it
(same task instance, growing try_number, max_tries raised by a clear), against the emulators, with the
ledger in a local directory (tests/operators/conftest.py). Whole DAG runs: test_exactly_once_dags.py."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest

from airflow_provider_mail._compat import AirflowException
from airflow_provider_mail._ledger import MESSAGE_ROW, ledger_record_name
from airflow_provider_mail._ledger.backends import TASK_STATE_KEY
from airflow_provider_mail._ledger.record import decode_rows
from airflow_provider_mail._shared.task_context import TRACE_HEADER
from airflow_provider_mail.exceptions import (
    AmbiguousSendError,
    MailConfigurationError,
    Sender25TransportError,
    SendLedgerError,
)
from airflow_provider_mail.operators.sender25 import Sender25SendEmailOperator, Sender25SendRawOperator
from airflow_provider_mail.operators.xmailer import XmailerSendEmailOperator
from airflow_provider_mail.testing import Fault

RECORD_NAME = ledger_record_name("billing", "send", "manual__1", -1)


def context(try_number=1, max_tries=1, **extra):
    ti = SimpleNamespace(
        dag_id="billing",
        task_id="send",
        run_id="manual__1",
        map_index=-1,
        try_number=try_number,
        max_tries=max_tries,
    )
    return {"ti": ti, "ds": "2026-11-22", "params": {}, **extra}


def run(operator, try_number=1, max_tries=1, **extra):
    ctx = context(try_number, max_tries, **extra)
    operator.render_template_fields(ctx)
    return operator.execute(ctx)


class Boom(AirflowException):
    """Something later in the try fails."""


def failing_after_send(operator_class):
    """A test subclass whose try 1 fails after the send returned (anything later in the try)."""

    class FailsAfterSend(operator_class):
        def execute(self, context):
            result = super().execute(context)
            if context["ti"].try_number == 1:
                raise Boom("later step failed")
            return result

    return FailsAfterSend


def dying_during_round_trip(operator_class):
    """A test subclass whose try 1 is interrupted after the request went out, before the answer is
    recorded (as execution_timeout's signal or a kill would interrupt it)."""

    class DiesInFlight(operator_class):
        def prepare_send(self, context):
            prepared = super().prepare_send(context)
            send = prepared.send

            def send_then_die():
                if context["ti"].try_number == 1:
                    send()
                    raise KeyboardInterrupt("killed during the round trip")
                return send()

            prepared.send = send_then_die
            return prepared

    return DiesInFlight


def sender25(operator_class=Sender25SendEmailOperator, **kwargs):
    defaults = {"task_id": "send", "to": "ana@example.org", "from_email": "n@example.com", "plain_body": "hi"}
    return operator_class(**{**defaults, **kwargs})


def raw(operator_class=Sender25SendRawOperator, **kwargs):
    message = "From: n@example.com\r\nTo: ana@example.org\r\nSubject: raw\r\n\r\nbody\r\n"
    defaults = {
        "task_id": "send",
        "mail_from": "n@example.com",
        "rcpt_to": "ana@example.org",
        "message": message,
    }
    return operator_class(**{**defaults, **kwargs})


def xmailer_op(operator_class=XmailerSendEmailOperator, **kwargs):
    defaults = {"task_id": "send", "to": "ana@example.org", "from_email": "n@example.com", "plain_body": "hi"}
    return operator_class(**{**defaults, **kwargs})


@pytest.fixture
def xmailer(monkeypatch, xmailer_emulator):
    monkeypatch.setenv(
        "AIRFLOW_CONN_XMAILER_DEFAULT", xmailer_emulator.airflow_connection(retry_backoff=0.01, timeout=10)
    )
    return xmailer_emulator


@pytest.fixture
def logs(caplog, capsys):
    """Everything logged so far: Airflow 3 logs through structlog to stdout, Airflow 2 through logging."""
    caplog.set_level(logging.INFO)

    def text() -> str:
        captured = capsys.readouterr()
        return caplog.text + captured.out + captured.err

    return text


def ledger_rows(ledger_dir):
    """Every row the tries wrote, newest try last: ``{try_number: [LedgerRow, ...]}``."""
    found = {}
    for path in sorted(ledger_dir.glob(f"{RECORD_NAME}.k*.c*.json")):
        if ".p" in path.name.rsplit(".c", 1)[1]:
            continue
        value = json.loads(path.read_text())
        found.setdefault(value["try_number"], []).extend(
            decode_rows(value["data"], value["try_number"], name=path.name)
        )
    return found


def stored(ledger_dir):
    """The message row of the newest try that recorded one."""
    rows = [row for _, listed in sorted(ledger_rows(ledger_dir).items()) for row in listed]
    return rows[-1] if rows else None


# -- a try that fails after the send: the retry returns the first result ------------------------------
@pytest.mark.parametrize("factory", [sender25, raw], ids=["send-email", "send-raw"])
def test_sender25_retry_after_a_later_failure_does_not_send_and_returns_the_first_result(
    sender25_conn, factory, logs, ledger_dir
):
    operator = factory(failing_after_send(type(factory())))
    with pytest.raises(Boom):
        run(operator, try_number=1)
    first = stored(ledger_dir)
    assert first.key == MESSAGE_ROW and first.state == "accepted" and first.try_number == 1
    second = run(operator, try_number=2)
    (message,) = sender25_conn.messages()
    assert second == first.result and second["messages"]["ana@example.org"]["id"] == message.id
    assert "sent by try 1" in logs()
    assert message.headers[TRACE_HEADER].endswith("try_number=1")


def test_xmailer_retry_after_a_later_failure_does_not_send_and_returns_the_first_result(xmailer, logs):
    operator = xmailer_op(failing_after_send(XmailerSendEmailOperator))
    with pytest.raises(Boom):
        run(operator, try_number=1)
    second = run(operator, try_number=2)
    (received,) = xmailer.messages
    assert second["queue_id"] == received.queue_id and "sent by try 1" in logs()


def test_the_record_holds_ids_and_trace_only_never_the_body(sender25_conn, ledger_dir):
    run(sender25(plain_body="secret body text", subject="private subject"))
    text = "".join(path.read_text() for path in ledger_dir.iterdir())
    assert "secret body text" not in text and "private subject" not in text
    row = stored(ledger_dir)
    assert "secret body text" not in json.dumps(row.as_list())
    assert row.state == "accepted" and set(row.result) == {"message_id", "messages"}
    assert set(row.info) == {
        "service",
        "trace",
        "message_id",
        "mail_from",
        "recipients",
        "started_at",
        "accepted_at",
    }
    assert row.info["trace"].startswith("dag_id=billing; task_id=send")


# -- a try that dies during the round trip: the next try fails with the trace ------------------------
def test_sender25_next_try_after_a_death_in_flight_fails_naming_the_trace_and_the_panel(sender25_conn):
    operator = sender25(dying_during_round_trip(Sender25SendEmailOperator))
    with pytest.raises(KeyboardInterrupt):
        run(operator, try_number=1)
    with pytest.raises(AmbiguousSendError) as caught:
        run(operator, try_number=2)
    text = str(caught.value)
    assert "try 1 sent this message to sender25" in text and "Not sending again" in text
    assert (
        f"{TRACE_HEADER}: dag_id=billing; task_id=send; run_id=manual__1; map_index=-1; try_number=1" in text
    )
    assert "Sender25 panel" in text and RECORD_NAME in text
    assert caught.value.recipients == ["ana@example.org"]
    assert len(sender25_conn.messages()) == 1


def test_xmailer_next_try_after_a_death_in_flight_names_the_report_query(xmailer):
    operator = xmailer_op(dying_during_round_trip(XmailerSendEmailOperator))
    with pytest.raises(KeyboardInterrupt):
        run(operator, try_number=1)
    with pytest.raises(AmbiguousSendError) as caught:
        run(operator, try_number=2)
    (received,) = xmailer.messages
    text = str(caught.value)
    assert "xmailer report" in text and "sender n@example.com" in text and "['ana@example.org']" in text
    assert f"Message-ID <{received.parsed['Message-ID'].strip('<>')}>" in text


def test_on_unknown_outcome_resend_sends_again(sender25_conn, logs):
    operator = sender25(dying_during_round_trip(Sender25SendEmailOperator), on_unknown_outcome="resend")
    with pytest.raises(KeyboardInterrupt):
        run(operator, try_number=1, max_tries=2)
    run(operator, try_number=2, max_tries=2)
    assert len(sender25_conn.messages()) == 2 and "on_unknown_outcome='resend'" in logs()
    run(operator, try_number=3, max_tries=2)  # try 2's send was recorded: no third message
    assert len(sender25_conn.messages()) == 2 and "sent by try 2" in logs()


def test_a_hook_ambiguous_error_leaves_the_row_so_no_retry_resends(sender25_conn, ledger_dir):
    sender25_conn.inject(Fault.HTTP_504)  # the API stored it, the proxy gave up
    with pytest.raises(AmbiguousSendError, match="clear it to send again"):
        run(sender25(), try_number=1)
    assert stored(ledger_dir).state == "sending"
    with pytest.raises(AmbiguousSendError, match="try 1 sent this message"):
        run(sender25(), try_number=2)
    assert len(sender25_conn.messages()) == 1


def test_a_run_created_again_under_the_same_run_id_does_not_send_again(sender25_conn, ledger_dir):
    # Airflow 2's `dags test` twice on one date, or a DAG run deleted and triggered again with its
    # run id: try 1 again with the same max_tries, and a ledger outside the run (Variables, a bucket)
    operator = sender25(failing_after_send(Sender25SendEmailOperator))
    with pytest.raises(Boom):
        run(operator, try_number=1)
    with pytest.raises(Boom):  # this operator fails after the send on every try 1
        run(operator, try_number=1)
    assert len(sender25_conn.messages()) == 1


# -- clear = send again ------------------------------------------------------------------------------
def test_clearing_a_succeeded_task_instance_sends_again(sender25_conn):
    operator = sender25(retries=1)
    first = run(operator, try_number=1, max_tries=1)
    # clear_task_instances: max_tries = try_number + retries = 2; the next try is 2.
    second = run(operator, try_number=2, max_tries=2)
    assert len(sender25_conn.messages()) == 2 and first["messages"] != second["messages"]


def test_clearing_after_an_unknown_outcome_sends_again(sender25_conn):
    # try 1 is cut off during the round trip; a clear continues that attempt (the next try fails as
    # ambiguous, ending on its own); a clear after that ended try sends again
    operator = sender25(dying_during_round_trip(Sender25SendEmailOperator), retries=0)
    with pytest.raises(KeyboardInterrupt):
        run(operator, try_number=1, max_tries=0)
    with pytest.raises(AmbiguousSendError):
        run(operator, try_number=2, max_tries=1)
    run(operator, try_number=3, max_tries=2)
    assert len(sender25_conn.messages()) == 2


# -- refused sends: nothing went out, a retry may send ----------------------------------------------
def test_a_send_refused_before_reaching_the_api_can_be_retried(monkeypatch, sender25_emulator, ledger_dir):
    monkeypatch.setenv("AIRFLOW_CONN_SENDER25_DEFAULT", sender25_emulator.airflow_connection(max_retries=0))
    sender25_emulator.inject(Fault.HTTP_503)
    with pytest.raises(Sender25TransportError):
        run(sender25(), try_number=1)
    assert ledger_rows(ledger_dir) == {1: []}  # marked, then dropped: nothing went out
    run(sender25(), try_number=2)
    assert len(sender25_emulator.messages()) == 1


# -- opt-out, configuration, corruption, cost ----------------------------------------------------------
def test_ledger_off_sends_on_every_try(sender25_conn):
    operator = sender25(failing_after_send(Sender25SendEmailOperator), ledger="off")
    with pytest.raises(Boom):
        run(operator, try_number=1)
    run(operator, try_number=2)
    assert len(sender25_conn.messages()) == 2


def test_a_corrupt_record_fails_the_task_and_sends_nothing(sender25_conn, ledger_dir):
    ledger_dir.mkdir()
    (ledger_dir / f"{RECORD_NAME}.json").write_text('{"kind": "something else"}')
    with pytest.raises(SendLedgerError, match=RECORD_NAME):
        run(sender25())
    assert sender25_conn.messages() == []


def test_on_unknown_outcome_is_validated():
    with pytest.raises(MailConfigurationError, match="on_unknown_outcome"):
        sender25(on_unknown_outcome="retry")


class CountingStateStore:
    """The shape of Airflow 3.3's ``context["task_state_store"]``, counting calls."""

    def __init__(self):
        self.values, self.calls = {}, []

    def get(self, key, default=None):
        self.calls.append("get")
        return self.values.get(key, default)

    def set(self, key, value, *, retention=None):
        self.calls.append("set")
        self.values[key] = json.loads(json.dumps(value))

    def delete(self, key):
        self.calls.append("delete")
        self.values.pop(key, None)


def test_a_normal_run_reads_three_times_and_writes_four_times_in_the_task_state_store(sender25_conn):
    store = CountingStateStore()
    run(sender25(ledger="default"), task_state_store=store)
    # the head read and claimed; the row marked `sending`; the fence checked; the row settled;
    # and the head marked: this try ran to its end (a later clear sends again)
    assert store.calls == ["get", "set", "set", "get", "set", "get", "set"]
    assert sorted(store.values) == [TASK_STATE_KEY, TASK_STATE_KEY + ".k1.c0"]
    chunk = store.values[TASK_STATE_KEY + ".k1.c0"]
    (row,) = decode_rows(chunk["data"], 1, name="chunk")
    assert row.state == "accepted"
