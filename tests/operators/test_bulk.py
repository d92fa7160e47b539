"""The bulk send operators against the emulators over loopback: execute() with a hand-made context
(tries as Airflow would make them), the ledger in a local directory (tests/operators/conftest.py)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from airflow_provider_mail._bulk.results import read_results
from airflow_provider_mail._shared.task_context import TRACE_HEADER
from airflow_provider_mail.exceptions import AmbiguousSendError, BulkSendFailed, Sender25AuthError
from airflow_provider_mail.hooks.sender25 import SEND_MESSAGE_PATH
from airflow_provider_mail.operators.bulk import Sender25BulkSendOperator, XmailerBulkSendOperator
from airflow_provider_mail.sensors.delivery import Sender25DeliverySensor, XmailerDeliverySensor
from airflow_provider_mail.testing import Fault

FAST = {"retry_backoff": 0.01, "timeout": 5, "connect_timeout": 5}


@pytest.fixture
def sender25(monkeypatch, sender25_emulator):
    monkeypatch.setenv("AIRFLOW_CONN_SENDER25_DEFAULT", sender25_emulator.airflow_connection(**FAST))
    return sender25_emulator


@pytest.fixture
def xmailer(monkeypatch, xmailer_emulator):
    monkeypatch.setenv("AIRFLOW_CONN_XMAILER_DEFAULT", xmailer_emulator.airflow_connection(**FAST))
    return xmailer_emulator


def context(try_number=1, max_tries=1):
    ti = SimpleNamespace(
        dag_id="statements",
        task_id="bulk",
        run_id="manual__1",
        map_index=-1,
        try_number=try_number,
        max_tries=max_tries,
    )
    return {"ti": ti, "ds": "2026-11-22", "params": {}}


def run(operator, try_number=1, max_tries=1):
    ctx = context(try_number, max_tries)
    operator.render_template_fields(ctx)
    return operator.execute(ctx)


def customers(count, *, bad=()):
    return [
        {"to": "not an address" if n in bad else f"c{n}@example.org", "name": f"Cliente {n}", "due": n * 10}
        for n in range(count)
    ]


def bulk(tmp_path, rows, operator_class=Sender25BulkSendOperator, **kwargs):
    defaults = {
        "task_id": "bulk",
        "rows": rows,
        "from_email": "billing@example.com",
        "subject": "Extrato de {{ row.name }} ({{ ds }})",
        "plain_body": "Olá {{ row.name }}, total {{ row.due }}.",
        "results_path": str(tmp_path / "results.jsonl"),
    }
    return operator_class(**{**defaults, **kwargs})


def sends(emulator):
    return [r for r in emulator.requests if r.path == SEND_MESSAGE_PATH]


def test_sender25_bulk_sends_one_rendered_message_per_row_and_returns_gate_ready_ids(tmp_path, sender25):
    result = run(bulk(tmp_path, customers(30), tag="statement-{{ row.due }}"))
    messages = sender25.messages()
    assert sorted(m.rcpt_to for m in messages) == sorted(f"c{n}@example.org" for n in range(30))
    by_rcpt = {m.rcpt_to: m for m in messages}
    assert by_rcpt["c7@example.org"].subject == "Extrato de Cliente 7 (2026-11-22)"
    assert by_rcpt["c7@example.org"].tag == "statement-70"
    assert by_rcpt["c7@example.org"].plain_body.strip() == "Olá Cliente 7, total 70."
    assert by_rcpt["c7@example.org"].headers[TRACE_HEADER].endswith("; row=7")
    assert result["counts"] == {"total": 30, "accepted": 30, "sent_earlier": 0, "failed": 0, "unknown": 0}
    assert {int(e["id"]) for e in result["messages"].values()} == {m.id for m in messages}
    assert len(read_results(result["results_path"])) == 30


def test_a_bad_row_is_named_and_does_not_stop_the_batch_and_fails_the_task_at_the_end(tmp_path, sender25):
    with pytest.raises(BulkSendFailed) as caught:
        run(bulk(tmp_path, customers(12, bad=(3, 8))))
    assert len(sender25.messages()) == 10
    failed = [r for r in read_results(str(tmp_path / "results.jsonl")) if r["status"] == "failed"]
    assert [(r["row"], r["error"], r["code"]) for r in failed] == [
        (3, "Sender25ValidationError", "InvalidAddress"),
        (8, "Sender25ValidationError", "InvalidAddress"),
    ] or {r["row"] for r in failed} == {3, 8}
    assert caught.value.failed == 2 and "row 3" in str(caught.value)


def test_max_failed_rows_lets_the_task_succeed_with_the_failures_named(tmp_path, sender25):
    result = run(bulk(tmp_path, customers(12, bad=(3, 8)), max_failed_rows=2))
    assert result["counts"]["failed"] == 2 and result["counts"]["accepted"] == 10
    assert [f["row"] for f in result["failed_rows"]] == [3, 8]


def test_a_retry_sends_only_the_rows_not_accepted_and_returns_every_id(tmp_path, sender25):
    class CrashAfterFirstChunk(Sender25BulkSendOperator):
        def after_chunk(self, progress):
            if progress.done >= 100 and context_try[0] == 1:
                raise RuntimeError("worker lost")

    context_try = [1]
    operator = bulk(tmp_path, customers(250), CrashAfterFirstChunk, ledger_chunk_size=100)
    with pytest.raises(RuntimeError):
        run(operator, try_number=1, max_tries=1)
    assert len(sender25.messages()) == 100
    context_try[0] = 2
    result = run(operator, try_number=2, max_tries=1)
    assert len(sender25.messages()) == 250
    assert sorted(m.rcpt_to for m in sender25.messages()) == sorted(f"c{n}@example.org" for n in range(250))
    assert result["counts"]["sent_earlier"] == 100 and result["counts"]["accepted"] == 250
    assert len(result["messages"]) == 250


def test_rows_whose_answer_was_lost_are_unknown_on_retry_and_not_sent_again(tmp_path, sender25):
    # the first two sends are stored and their connections reset unanswered: outcome unknown
    sender25.inject(Fault.RESET_AFTER_BODY, count=2)
    with pytest.raises(AmbiguousSendError):
        run(bulk(tmp_path, customers(20), ledger_chunk_size=10, max_concurrency=1))
    assert len(sender25.messages()) == 20
    lost = sorted(r["row"] for r in read_results(str(tmp_path / "results.jsonl")) if r["status"] == "unknown")
    assert len(lost) == 2
    with pytest.raises(AmbiguousSendError) as caught:
        run(bulk(tmp_path, customers(20)), try_number=2)
    assert len(sender25.messages()) == 20  # 18 sent earlier, 2 unknown: nothing new
    assert f"c{lost[0]}@example.org" in caught.value.recipients
    unknown = [r for r in read_results(str(tmp_path / "results.jsonl")) if r["status"] == "unknown"]
    assert sorted(r["row"] for r in unknown) == lost
    result = run(bulk(tmp_path, customers(20), on_unknown_outcome="resend"), try_number=3)
    assert result["counts"]["accepted"] == 20 and len(sender25.messages()) == 22


def test_a_refused_api_key_stops_the_batch_at_once(tmp_path, monkeypatch, sender25):
    connection = {**json.loads(sender25.airflow_connection(**FAST)), "password": "wrong-key"}
    monkeypatch.setenv("AIRFLOW_CONN_SENDER25_DEFAULT", json.dumps(connection))
    with pytest.raises(Sender25AuthError):
        run(bulk(tmp_path, customers(500), max_concurrency=2))
    assert len(sends(sender25)) <= 100 + 2


@pytest.mark.sender25_emulator(rate_limit=20)
def test_a_429_holds_every_sender_and_every_row_is_accepted_once(tmp_path, sender25):
    result = run(bulk(tmp_path, customers(120)))
    assert result["counts"]["accepted"] == 120
    assert sorted(m.rcpt_to for m in sender25.messages()) == sorted(f"c{n}@example.org" for n in range(120))
    limited = [r for r in sends(sender25) if r.rate_limited]
    # without the shared gate each of 8 senders would meet the limit on its own, again and again
    assert 0 < len(limited) <= 8 * (120 // 20 + 1)


def test_a_rate_limit_keeps_the_batch_under_the_service_limit(tmp_path, monkeypatch, sender25):
    sender25.set_network(rate_limit=25, rate_limit_burst=5)
    result = run(bulk(tmp_path, customers(30), rate_limit=20))
    assert result["counts"]["accepted"] == 30
    assert not [r for r in sends(sender25) if r.rate_limited]


def test_xmailer_bulk_reuses_smtp_sessions_and_returns_gate_ready_sends(tmp_path, xmailer):
    opened = []

    class CountsConnections(XmailerBulkSendOperator):
        def close_clients(self, clients):
            opened.extend(session.connections for session in clients)
            super().close_clients(clients)

    operator = bulk(
        tmp_path, customers(40, bad=(5,)), CountsConnections, max_failed_rows=1, max_concurrency=4
    )
    result = run(operator)
    messages = xmailer.messages
    assert len(messages) == 39
    assert sum(opened) <= 4  # four sessions carried 39 messages: no connect, TLS and AUTH per message
    assert result["counts"]["accepted"] == 39
    assert [(f["row"], f["error"], f["code"]) for f in result["failed_rows"]] == [
        (5, "MailValidationError", "InvalidAddress")
    ]
    assert {s["queue_id"] for s in result["sends"]} == {m.queue_id for m in messages}
    from airflow_provider_mail._delivery.policy import xmailer_targets

    assert len(xmailer_targets(result["sends"])) == 39


@pytest.mark.parametrize("xcom_ids_limit", [1000, 5], ids=["ids-in-xcom", "ids-in-results-file"])
def test_the_sender25_gate_takes_the_bulk_xcom_as_is(tmp_path, sender25, xcom_ids_limit):
    """Small batches carry their ids in the XCom; big ones only the results file, which the gate reads."""
    result = run(bulk(tmp_path, customers(12), xcom_ids_limit=xcom_ids_limit))
    assert result["ids_in_xcom"] is (xcom_ids_limit == 1000)
    awaited = Sender25DeliverySensor(task_id="gate", messages=result)._start_wait().awaited.ids
    assert set(awaited) == {str(m.id) for m in sender25.messages()}
    assert sorted(awaited.values()) == sorted(f"c{n}@example.org" for n in range(12))


@pytest.mark.parametrize("xcom_ids_limit", [1000, 2], ids=["ids-in-xcom", "ids-in-results-file"])
def test_the_xmailer_gate_takes_the_bulk_xcom_as_is(tmp_path, xmailer, xcom_ids_limit):
    result = run(bulk(tmp_path, customers(6), XmailerBulkSendOperator, xcom_ids_limit=xcom_ids_limit))
    targets = XmailerDeliverySensor(task_id="gate", messages=result)._start_wait().awaited.as_dicts()
    assert sorted(t["recipient"] for t in targets) == sorted(f"c{n}@example.org" for n in range(6))
    assert all(t["queue_id"] for t in targets)
