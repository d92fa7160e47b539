"""example_sender25_statements under `airflow dags test`: a file of statements, one bulk task, the gate."""

from __future__ import annotations

import pytest

from airflow_provider_mail._shared.task_context import TRACE_HEADER

pytestmark = pytest.mark.dag_run


def test_statements_are_sent_once_each_gated_on_delivery_and_reported(dags_test, sender25_emulator):
    output = dags_test("example_sender25_statements", conf={"count": 120})
    messages = [m for m in sender25_emulator.messages() if m.tag == "statement"]
    assert sorted(m.rcpt_to for m in messages) == sorted(f"cliente{n}@example.org" for n in range(1, 121))
    by_rcpt = {m.rcpt_to: m for m in messages}
    assert by_rcpt["cliente7@example.org"].subject == "Seu extrato da conta 000007"
    assert "O saldo da conta 000007 é R$ 95.90." in by_rcpt["cliente7@example.org"].plain_body
    assert by_rcpt["cliente7@example.org"].headers[TRACE_HEADER].endswith("; row=6")
    assert "sender25 delivery: all 120 message(s) delivered" in output, output[-3000:]
    assert "statements: 120 accepted, 0 not sent, 0 not delivered: nobody bounced" in output
