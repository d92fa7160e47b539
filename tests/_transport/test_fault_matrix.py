"""One fault matrix, both drivers: every operation of both services meets every fault for real.

For each cell the sync driver (requests) and the async driver (httpx) must raise the same exception
class after the same number of attempts, and a send is never stored twice. The faults come from a
tiny misbehaving server on loopback (:mod:`tests._transport.fault_server`), not from mocks.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from airflow_provider_mail import exceptions as errors
from airflow_provider_mail.hooks.sender25 import Sender25Hook
from airflow_provider_mail.hooks.xmailer import XmailerReportHook
from airflow_provider_mail.testing.xmailer.tls import make_relay_certificate
from tests._transport.fault_server import (
    CONFIG,
    FAST_EXTRAS,
    FAULTS,
    NEVER,
    FaultServer,
    define_connections,
    free_port,
)

MAX_RETRIES = 1
EXTRAS = {**FAST_EXTRAS, "max_retries": MAX_RETRIES}

SENDS = ("send/message", "send/raw")
OPERATIONS = (*SENDS, "messages/message", "messages/deliveries", "xmailer/report")
#: A report cut after rows were handed out cannot be retried (the rows are gone to the caller).
CUT_AFTER_ROWS = {"short_content_length", "chunked_cut"}
RAW = b"From: noreply@example.com\r\nTo: ana@example.org\r\nSubject: x\r\n\r\nhello\r\n"


def expectation(fault: str, operation: str) -> tuple[type[Exception], int, int]:
    """The error class, the number of attempts, and the sends stored, for one cell."""
    kind, sender25_error, xmailer_error = FAULTS[fault]
    error = xmailer_error if operation == "xmailer/report" else sender25_error
    assert error is not None
    processed = fault not in {
        "refused",
        "dns",
        "tls_untrusted",
        "reset_before",
        "429",
        "503",
        "301",
        "308",
        "404",
    }
    if kind == CONFIG:
        return error, 1, 0
    if kind == NEVER:
        return error, 1 + MAX_RETRIES, 0
    if operation in SENDS:
        return errors.AmbiguousSendError, 1, int(processed)
    if operation == "xmailer/report" and fault in CUT_AFTER_ROWS:
        return error, 1, 0
    return error, 1 + MAX_RETRIES, 0


def fault_kind(fault: str) -> str:
    return FAULTS[fault][0]


CELLS = [
    pytest.param(fault, operation, id=f"{fault}-{operation}")
    for fault in FAULTS
    for operation in OPERATIONS
    if not (operation == "xmailer/report" and FAULTS[fault][2] is None)
]


@pytest.fixture(scope="module")
def untrusted_tls(tmp_path_factory):
    """A server certificate signed by a CA the client does not trust."""
    return make_relay_certificate(Path(tmp_path_factory.mktemp("tls")), "127.0.0.1").server_context()


def run_operation(operation: str, driver: str, waits: list[float]) -> None:
    """Run one operation on one driver; backoff waits are recorded, not slept."""
    if operation == "xmailer/report":
        hook: Sender25Hook | XmailerReportHook = XmailerReportHook(xmailer_conn_id="matrix_xmailer")
    else:
        hook = Sender25Hook(sender25_conn_id="matrix_sender25")
    hook._sleep = waits.append

    async def record(seconds: float) -> None:
        waits.append(seconds)

    hook._asleep = record
    end = datetime(2026, 11, 22, 13, 0, tzinfo=timezone.utc)
    sync_calls = {
        "send/message": lambda h: h.send_message(
            to="ana@example.org", from_email="noreply@example.com", subject="s", plain_body="b"
        ),
        "send/raw": lambda h: h.send_raw(
            mail_from="noreply@example.com", rcpt_to=["ana@example.org"], data=RAW
        ),
        "messages/message": lambda h: h.get_message(1),
        "messages/deliveries": lambda h: h.get_deliveries(1),
        "xmailer/report": lambda h: list(h.get_report(end - timedelta(hours=4), end)),
    }
    async_calls = {
        "send/message": lambda h: h.asend_message(
            to="ana@example.org", from_email="noreply@example.com", subject="s", plain_body="b"
        ),
        "send/raw": lambda h: h.asend_raw(
            mail_from="noreply@example.com", rcpt_to=["ana@example.org"], data=RAW
        ),
        "messages/message": lambda h: h.aget_message(1),
        "messages/deliveries": lambda h: h.aget_deliveries(1),
        "xmailer/report": lambda h: _collect(h.aiter_report(end - timedelta(hours=4), end)),
    }
    if driver == "sync":
        sync_calls[operation](hook)
    else:
        asyncio.run(async_calls[operation](hook))


async def _collect(rows):
    return [row async for row in rows]


@pytest.mark.parametrize("driver", ["sync", "async"])
@pytest.mark.parametrize(("fault", "operation"), CELLS)
def test_fault_cell(monkeypatch, untrusted_tls, fault, operation, driver):
    expected_error, expected_attempts, expected_stored = expectation(fault, operation)
    server = (
        None
        if fault in ("refused", "dns")
        else FaultServer(fault, tls_context=untrusted_tls if fault == "tls_untrusted" else None)
    )
    try:
        define_connections(monkeypatch, fault, server.port if server else free_port(), EXTRAS)
        waits: list[float] = []
        with pytest.raises(errors.MailProviderError) as info:
            run_operation(operation, driver, waits)
        assert type(info.value) is expected_error, repr(info.value)
        assert len(waits) + 1 == expected_attempts
        if server is not None:
            if fault not in ("tls_untrusted", "reset_before"):
                assert len(server.log.requests) == expected_attempts
            assert server.log.processed_sends == expected_stored
            assert server.log.processed_sends <= 1
        text = f"{info.value} {info.value!r}"
        assert "K3Y-matrix" not in text and "P4ss-matrix" not in text
        if operation in SENDS:  # what went out, set where the failure was classified (issue 15)
            went_out = errors.send_outcome_of(info.value).went_out
            assert went_out is (
                errors.WentOut.UNKNOWN
                if expected_stored or fault_kind(fault) not in (NEVER, CONFIG)
                else errors.WentOut.NOTHING
            )
    finally:
        if server is not None:
            server.close()


def test_retry_after_is_honoured_by_both_drivers(monkeypatch):
    with FaultServer("429") as server:
        define_connections(monkeypatch, "429", server.port, EXTRAS)
        for driver in ("sync", "async"):
            waits: list[float] = []
            with pytest.raises(errors.Sender25TransportError):
                run_operation("messages/message", driver, waits)
            assert waits == [pytest.approx(1.0, abs=0.01)] * MAX_RETRIES
