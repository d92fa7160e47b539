"""Issue 15 item 15: the process-wide watchdog survives any one caller's bad input.

Each test first feeds the shared watchdog what used to kill its thread, then shows that a later call
with ``timeout=1`` against a server dripping a byte every quarter second still gets its deadline: only
the watchdog can end that call (each read arrives within the socket timeout).
"""

from __future__ import annotations

import json
import math

import pytest

from airflow_provider_mail._transport.watchdog import WATCHDOG
from airflow_provider_mail.exceptions import Sender25TransportError
from airflow_provider_mail.hooks.sender25 import Sender25Hook
from tests._transport.fault_server import FaultServer


def dripped_call(monkeypatch) -> Sender25TransportError:
    with FaultServer("drip") as server:
        conn = {
            "conn_type": "sender25",
            "host": "127.0.0.1",
            "port": server.port,
            "schema": "http",
            "password": "k",
            "extra": {"timeout": 1, "connect_timeout": 0.5, "max_retries": 0},
        }
        monkeypatch.setenv("AIRFLOW_CONN_SENDER25_DEFAULT", json.dumps(conn))
        with pytest.raises(Sender25TransportError) as info:
            Sender25Hook().get_message(1)
    return info.value


def test_a_huge_delay_does_not_kill_the_thread(monkeypatch):
    WATCHDOG.arm(1e300, lambda: None)  # what a connection with timeout 1e300 armed
    WATCHDOG.arm(math.inf, lambda: None)
    assert "no complete answer" in str(dripped_call(monkeypatch))


def test_a_failing_action_does_not_kill_the_thread(monkeypatch):
    def boom() -> None:
        raise RuntimeError("one caller's broken action")

    WATCHDOG.arm(0, boom)
    assert "no complete answer" in str(dripped_call(monkeypatch))


@pytest.mark.parametrize("delay", [math.nan, -1.0])
def test_a_delay_that_is_not_a_duration_is_refused_in_the_caller(delay):
    with pytest.raises(ValueError, match="delay"):
        WATCHDOG.arm(delay, lambda: None)
