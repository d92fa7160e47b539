"""Issue 10 item 13: a failure after the service accepted a send is ambiguous and fatal, never retried."""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_provider_mail._compat import AirflowFailException
from airflow_provider_mail.exceptions import AmbiguousSendError
from airflow_provider_mail.hooks.sender25 import Sender25Hook
from tests._transport.fault_server import FaultServer

ARGS = {"to": "ana@example.org", "from_email": "noreply@example.com", "subject": "s", "plain_body": "b"}


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_an_odd_success_answer_to_a_send_is_ambiguous_and_sent_once(monkeypatch, driver):
    with FaultServer("odd_success") as server:
        monkeypatch.setenv(
            "AIRFLOW_CONN_SENDER25_DEFAULT",
            json.dumps(
                {
                    "conn_type": "sender25",
                    "host": "127.0.0.1",
                    "port": server.port,
                    "schema": "http",
                    "password": "key-odd",
                    "extra": {"max_retries": 2, "retry_backoff": 0.001},
                }
            ),
        )
        hook = Sender25Hook()
        send = (
            (lambda: hook.send_message(**ARGS))
            if driver == "sync"
            else (lambda: asyncio.run(hook.asend_message(**ARGS)))
        )
        with pytest.raises(AmbiguousSendError) as info:
            send()
    # fatal: Airflow's own retries (retries=2 in the report) do not run execute() again either
    assert isinstance(info.value, AirflowFailException)
    assert server.log.processed_sends == 1 and len(server.log.requests) == 1
    assert "unexpected shape" in str(info.value)
