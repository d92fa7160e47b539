"""The bulk send's ledger at the edges (issue 15): edited input between tries, a running task cleared,
two tries at once, write cost bounded by the chunk, CSV input, template errors, exceptions mid-chunk.

Each test runs the real operator against the emulators over loopback, with the ledger in a local
directory (``file://``, tests/operators/conftest.py)."""

from __future__ import annotations

import json

import pytest

from airflow_provider_mail._bulk.results import read_results
from airflow_provider_mail._ledger.backends import ObjectStorageBackend
from airflow_provider_mail.exceptions import (
    AmbiguousSendError,
    BulkSendFailed,
    FatalMailProviderError,
    SendLedgerFenced,
    ServiceAskedToWait,
)
from airflow_provider_mail.operators.bulk import Sender25BulkSendOperator, XmailerBulkSendOperator
from tests.operators.test_bulk import bulk, customers, run
from tests.operators.test_bulk import sender25 as sender25
from tests.operators.test_bulk import xmailer as xmailer


def results(tmp_path):
    return {r["row"]: r for r in read_results(str(tmp_path / "results.jsonl"))}


def stored_per_recipient(emulator):
    counts: dict[str, int] = {}
    for message in emulator.messages():
        counts[message.rcpt_to] = counts.get(message.rcpt_to, 0) + 1
    return counts


# -- item 1: edited input between tries ---------------------------------------------------------------


def test_a_row_deleted_between_tries_sends_nothing_twice_and_keeps_each_rows_ids(tmp_path, sender25):
    rows = [
        {"to": "a@example.org"},
        {"to": "not an address"},
        {"to": "c@example.org"},
        {"to": "d@example.org"},
    ]
    with pytest.raises(BulkSendFailed):
        run(bulk(tmp_path, rows, subject="Hi {{ row.to }}", plain_body="x"), try_number=1)
    first = {m.rcpt_to: m.id for m in sender25.messages()}
    assert sorted(first) == ["a@example.org", "c@example.org", "d@example.org"]

    edited = [rows[0], rows[2], rows[3]]  # the user deleted the bad line
    result = run(bulk(tmp_path, edited, subject="Hi {{ row.to }}", plain_body="x"), try_number=2)
    assert stored_per_recipient(sender25) == {"a@example.org": 1, "c@example.org": 1, "d@example.org": 1}
    assert result["counts"]["sent_earlier"] == 3 and result["counts"]["accepted"] == 3
    # each row reports its own message, not the one that used to stand at its position
    assert {r: int(e["id"]) for r, e in result["messages"].items()} == first


def test_a_row_changed_under_the_same_position_is_a_named_failure_not_a_resend(tmp_path, sender25):
    rows = [{"to": "a@example.org", "due": 1}, {"to": "b@example.org", "due": 2}]

    class FailsAtTheEnd(Sender25BulkSendOperator):
        def execute(self, context):
            super().execute(context)
            if context["ti"].try_number == 1:
                raise RuntimeError("a later step failed")

    op = bulk(tmp_path, rows, FailsAtTheEnd, subject="Due {{ row.due }}", plain_body="x")
    with pytest.raises(RuntimeError):
        run(op, try_number=1)
    assert len(sender25.messages()) == 2

    changed = [rows[0], {"to": "b@example.org", "due": 99}]  # same recipient, same place, new content
    with pytest.raises(BulkSendFailed):
        run(bulk(tmp_path, changed, subject="Due {{ row.due }}", plain_body="x"), try_number=2)
    assert len(sender25.messages()) == 2
    assert results(tmp_path)[1]["error"] == "SendLedgerRowChanged"
    assert results(tmp_path)[0]["status"] == "sent_earlier"


# -- item 3: a running task cleared (RESTARTING: max_tries unchanged, try_number past it) ---------------


@pytest.mark.parametrize("retries", [0, 1])
@pytest.mark.parametrize(
    "max_tries_after",
    ["unchanged", "try_number + retries"],
    ids=["try-reported-its-end", "scheduler-ended-it"],
)
def test_a_running_task_cleared_continues_whatever_the_retries(tmp_path, sender25, retries, max_tries_after):
    """Airflow 3.3 clears a running task to RESTARTING and terminates its try; the next try runs with
    max_tries unchanged, or (when the scheduler saw the executor end it) try_number + retries."""

    class TerminatedAfterTheFirstChunk(Sender25BulkSendOperator):
        def after_chunk(self, progress):
            if progress.done >= 10 and self._try == 1:
                raise KeyboardInterrupt  # as AirflowTaskTerminated: a BaseException, the try is cut off

        def execute(self, context):
            self._try = context["ti"].try_number
            return super().execute(context)

    op = bulk(tmp_path, customers(25), TerminatedAfterTheFirstChunk, ledger_chunk_size=10)
    with pytest.raises(KeyboardInterrupt):
        run(op, try_number=1, max_tries=retries)
    assert len(sender25.messages()) == 10
    max_tries = retries if max_tries_after == "unchanged" else 1 + retries
    result = run(op, try_number=2, max_tries=max_tries)
    assert set(stored_per_recipient(sender25).values()) == {1}
    assert result["counts"]["sent_earlier"] == 10 and result["counts"]["accepted"] == 25


def test_a_clear_after_a_try_that_ended_sends_everything_again(tmp_path, sender25):
    with pytest.raises(BulkSendFailed):
        run(bulk(tmp_path, customers(5, bad=(2,))), try_number=1, max_tries=0)
    assert len(sender25.messages()) == 4
    result = run(bulk(tmp_path, customers(5)), try_number=2, max_tries=1)  # cleared: max_tries 1 + 0
    assert result["counts"]["sent_earlier"] == 0 and len(sender25.messages()) == 9


# -- item 2: two tries at once ------------------------------------------------------------------------


@pytest.mark.parametrize("operator_class", [Sender25BulkSendOperator, XmailerBulkSendOperator])
def test_a_try_that_wakes_after_its_retry_started_stops_before_its_next_send(
    tmp_path, sender25, xmailer, operator_class
):
    rows = customers(30)
    retried: dict[str, dict] = {}

    class Freezes(operator_class):
        def execute(self, context):
            self._try = context["ti"].try_number
            return super().execute(context)

        def after_chunk(self, progress):
            if self._try == 1 and progress.done == 10:
                # try 1 freezes here (a GC pause, a partition); meanwhile Airflow runs try 2 to the end
                retry = bulk(
                    tmp_path,
                    rows,
                    operator_class,
                    ledger_chunk_size=10,
                    results_path=str(tmp_path / "r2.jsonl"),
                )
                retried["result"] = run(retry, try_number=2)

    frozen = bulk(tmp_path, rows, Freezes, ledger_chunk_size=10, results_path=str(tmp_path / "r1.jsonl"))
    with pytest.raises(SendLedgerFenced, match=r"try 1 stops before its next send.*claimed by try 2"):
        run(frozen, try_number=1)  # ... and wakes: it stops before sending its next chunk

    emulator = sender25 if operator_class is Sender25BulkSendOperator else xmailer
    if operator_class is Sender25BulkSendOperator:
        assert set(stored_per_recipient(emulator).values()) == {1}
    else:
        recipients = [r for m in emulator.messages for r in m.rcpt_tos]
        assert sorted(recipients) == sorted({*recipients}) and len(recipients) == 30
    assert retried["result"]["counts"]["sent_earlier"] == 10 and retried["result"]["counts"]["accepted"] == 30


# -- item 8: ledger write cost bounded by the chunk ----------------------------------------------------


def test_ledger_bytes_written_per_row_are_flat_and_every_value_fits_the_task_state_limit(
    tmp_path, sender25, monkeypatch
):
    written: list[int] = []
    original = ObjectStorageBackend.write

    def counting(self, key, record, *rest):
        written.append(len(json.dumps(record)))
        return original(self, key, record, *rest)

    monkeypatch.setattr(ObjectStorageBackend, "write", counting)
    per_row = {}
    for count in (200, 800):
        written.clear()
        sender25.reset()
        run(bulk(tmp_path, customers(count), ledger_chunk_size=100), try_number=1, max_tries=count)
        per_row[count] = sum(written) / count
        assert max(written) < 65_535
    assert per_row[800] < 1.3 * per_row[200], per_row


# -- item 12: CSV input -------------------------------------------------------------------------------


def test_a_csv_with_a_bom_and_an_oversized_field_fails_only_that_row(tmp_path, sender25):
    path = tmp_path / "rows.csv"
    huge = "x" * (200 * 1024)
    path.write_bytes(
        f"\ufeffto,name\r\na@example.org,Ana\r\nb@example.org,{huge}\r\nc@example.org,Caio\r\n".encode()
    )
    with pytest.raises(BulkSendFailed):
        run(bulk(tmp_path, str(path), subject="Hi {{ row.name }}", plain_body="x"))
    assert sorted(stored_per_recipient(sender25)) == ["a@example.org", "c@example.org"]
    assert results(tmp_path)[1]["status"] == "failed" and results(tmp_path)[1]["code"] == "InvalidRow"


# -- items 4/5: what went out, read from the error --------------------------------------------------


def test_an_xmailer_row_refused_for_every_recipient_failed_and_a_retry_sends_it(tmp_path, xmailer):
    xmailer.smtp_inject("reject_rcpt")  # every RCPT of the next transaction is refused
    with pytest.raises(BulkSendFailed) as caught:  # retryable: nothing of that row went out
        run(bulk(tmp_path, customers(4), XmailerBulkSendOperator, max_concurrency=1), try_number=1)
    assert caught.value.failed == 1 and caught.value.unknown == 0
    refused = [r for r in results(tmp_path).values() if r["status"] == "failed"]
    assert len(refused) == 1 and len(xmailer.messages) == 3
    result = run(bulk(tmp_path, customers(4), XmailerBulkSendOperator), try_number=2)
    assert result["counts"] == {"total": 4, "accepted": 4, "sent_earlier": 3, "failed": 0, "unknown": 0}
    assert sorted(r for m in xmailer.messages for r in m.rcpt_tos) == [f"c{n}@example.org" for n in range(4)]


@pytest.mark.parametrize("fail_on_refused", [False, True])
def test_a_partly_refused_xmailer_row_keeps_its_queue_id_and_refusals_and_is_never_resent(
    tmp_path, monkeypatch, xmailer, fail_on_refused
):
    handler = xmailer._relay_handler  # test-only: the relay refuses one address (550 at RCPT)
    original = handler.handle_RCPT

    async def refuse_nobody(server, session, envelope, address, options):
        if address.startswith("nobody@"):
            return f"550 5.1.1 <{address}>: Recipient address rejected"
        return await original(server, session, envelope, address, options)

    monkeypatch.setattr(handler, "handle_RCPT", refuse_nobody)
    rows = [{"to": "a@example.org, nobody@example.org", "name": "A", "due": 1}, {"to": "b@example.org"}]
    op = bulk(tmp_path, rows, XmailerBulkSendOperator, fail_on_refused=fail_on_refused, max_failed_rows=1)
    first = run(op, try_number=1)
    (line,) = [r for r in results(tmp_path).values() if r["row"] == 0]
    assert line["queue_id"] in {m.queue_id for m in xmailer.messages}
    assert list(line["refused"]) == ["nobody@example.org"] and line["accepted"] == ["a@example.org"]
    assert line["status"] == ("failed" if fail_on_refused else "accepted"), line
    assert first["counts"]["unknown"] == 0
    run(op, try_number=2)  # the queued row is never sent again
    assert sorted(r for m in xmailer.messages for r in m.rcpt_tos) == ["a@example.org", "b@example.org"]


# -- item 11: a wait the batch cannot honour -----------------------------------------------------------


def test_a_429_asking_longer_than_the_batch_waits_stops_it_at_once_naming_the_wait(
    tmp_path, monkeypatch, sender25
):
    from airflow_provider_mail.hooks.sender25 import SEND_MESSAGE_PATH
    from airflow_provider_mail.testing import Fault

    monkeypatch.setenv(
        "AIRFLOW_CONN_SENDER25_DEFAULT",
        sender25.airflow_connection(retry_backoff=0.01, timeout=5, retry_max_wait=1),
    )
    sender25.inject(Fault.HTTP_429, retry_after=86400)
    with pytest.raises(ServiceAskedToWait, match="86400 s") as caught:
        run(bulk(tmp_path, customers(20), max_concurrency=1), try_number=1)
    assert caught.value.wait_seconds == 86400 and not isinstance(caught.value, FatalMailProviderError)
    # the refused request was the only one: nothing was sent in between
    assert [r.path for r in sender25.requests] == [SEND_MESSAGE_PATH] and sender25.messages() == []
    result = run(bulk(tmp_path, customers(20)), try_number=2)  # after the wait: everything, once
    assert result["counts"]["accepted"] == 20 and set(stored_per_recipient(sender25).values()) == {1}


# -- item 6: a template error is the row's failure; exceptions settle answers in hand -----------------


def test_a_template_error_in_one_row_is_that_rows_failure(tmp_path, sender25):
    rows = [
        {"to": "a@example.org", "name": "Ana"},
        {"to": "b@example.org"},
        {"to": "c@example.org", "name": "C"},
    ]
    op = bulk(tmp_path, rows, subject="Hi {{ row.name.upper() }}", plain_body="x", max_failed_rows=1)
    result = run(op)
    assert result["counts"]["accepted"] == 2 and result["counts"]["failed"] == 1
    assert results(tmp_path)[1]["error"] == "MailValidationError"
    assert results(tmp_path)[1]["code"] == "TemplateError"


def test_an_exception_mid_chunk_settles_every_answer_already_received(tmp_path, sender25):
    """As Airflow's execution_timeout: SIGALRM raises in the task's main thread while one send of the
    chunk still waits for its answer (held by the emulator) and the others have theirs in hand."""
    import signal

    from airflow_provider_mail.testing import Fault

    def timeout(signum, frame):
        raise TimeoutError("execution_timeout")

    sender25.inject(Fault.SLOW, delay=8)  # the first send's answer is held
    previous = signal.signal(signal.SIGALRM, timeout)
    signal.setitimer(signal.ITIMER_REAL, 3)
    try:
        with pytest.raises(TimeoutError):
            run(bulk(tmp_path, customers(10), ledger_chunk_size=10, max_concurrency=2), try_number=1)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    with pytest.raises(AmbiguousSendError):
        run(bulk(tmp_path, customers(10), ledger_chunk_size=10), try_number=2)
    rows = results(tmp_path)
    # the retry knows every answer try 1 had in hand: only the held send is unknown
    assert [r["status"] for r in rows.values()].count("unknown") == 1, rows
    assert [r["status"] for r in rows.values()].count("sent_earlier") == 9, rows
    assert set(stored_per_recipient(sender25).values()) == {1}
