"""The single send reads what went out from the error (``send_outcome_of``), never from its type.

Against the xmailer emulator's own refusals and faults: a send queued for some recipients is recorded
as sent (with its queue id and refusals), and a send that provably queued nothing leaves no row, so
a retry sends it.
"""

from __future__ import annotations

import pytest

from airflow_provider_mail.exceptions import (
    AmbiguousSendError,
    MailProviderError,
    WentOut,
    XmailerRecipientsRefused,
    send_outcome_of,
)
from tests.operators.test_exactly_once import run, xmailer_op


@pytest.fixture
def xmailer(monkeypatch, xmailer_emulator):
    monkeypatch.setenv(
        "AIRFLOW_CONN_XMAILER_DEFAULT",
        xmailer_emulator.airflow_connection(retry_backoff=0.01, timeout=10, max_retries=1),
    )
    return xmailer_emulator


def test_fail_on_refused_with_some_refused_is_recorded_as_sent_with_its_queue_id(xmailer):
    """Issue 15 item 5: it was queued for the others; a later try returns that, never 'unknown'."""
    operator = xmailer_op(to=["ana@example.org", "bo@nowhere.invalid"], fail_on_refused=True)
    with pytest.raises(XmailerRecipientsRefused) as info:
        run(operator, try_number=1)
    assert send_outcome_of(info.value).went_out is WentOut.SOME
    second = run(operator, try_number=2)
    (received,) = xmailer.messages
    assert second["queue_id"] == received.queue_id
    assert second["accepted"] == ["ana@example.org"] and list(second["refused"]) == ["bo@nowhere.invalid"]
    assert "550" in str(second["refused"]["bo@nowhere.invalid"])


def test_421_at_rcpt_then_a_hang_up_leaves_no_row_so_the_retry_sends(xmailer):
    """Issue 15 item 7: nothing was queued before DATA, so the next try sends (once)."""
    xmailer.smtp_inject("rcpt_421_drop", count=2)
    operator = xmailer_op(to=["ana@example.org", "bo@example.org"])
    with pytest.raises(MailProviderError) as info:
        run(operator, try_number=1)
    assert not isinstance(info.value, AmbiguousSendError)
    result = run(operator, try_number=2)
    (received,) = xmailer.messages
    assert result["queue_id"] == received.queue_id
