"""The delivery gate's fault matrix: ``poke()``, the deferrable first poke and the trigger agree.

For every fault of the transport matrix, on both services: a transient fault keeps each of the three
waiting (and ends every one of them with the same type after the same number of consecutive
failures); a configuration fault ends each of them at once with its own, fatal type.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_provider_mail._compat import AirflowFailException, AirflowSkipException, TaskDeferred
from airflow_provider_mail.exceptions import MailProviderError
from airflow_provider_mail.sensors.delivery import Sender25DeliverySensor, XmailerDeliverySensor
from airflow_provider_mail.testing.xmailer.tls import make_relay_certificate
from tests._transport.fault_server import (
    CONFIG,
    FAST_EXTRAS,
    FAULTS,
    FaultServer,
    define_connections,
    free_port,
)

CONTEXT = {"ti": SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1, try_number=1)}
LIMIT = 2  # consecutive transient failures that end a wait
CELLS = [
    pytest.param(fault, service, id=f"{fault}-{service}")
    for fault in FAULTS
    for service in ("sender25", "xmailer")
    if not (service == "xmailer" and FAULTS[fault][2] is None)
]


@pytest.fixture(scope="module")
def untrusted_tls(tmp_path_factory):
    return make_relay_certificate(Path(tmp_path_factory.mktemp("tls")), "127.0.0.1").server_context()


def make_sensor(service: str, **kwargs):
    common = {
        "task_id": "wait",
        "poke_interval": 0.01,
        "timeout": 60,
        "max_consecutive_errors": LIMIT,
        **kwargs,
    }
    if service == "sender25":
        return Sender25DeliverySensor(messages=[1], sender25_conn_id="matrix_sender25", **common)
    return XmailerDeliverySensor(
        messages=["1grzDQ-000866-0o"], xmailer_conn_id="matrix_xmailer", lookback=3600, **common
    )


def trigger_outcome(sensor) -> tuple[dict, type[BaseException] | None]:
    """Defer, run the real trigger to its event, hand the event to execute_complete."""
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(CONTEXT)

    async def first_event():
        async for event in deferred.value.trigger.run():
            return event.payload
        return None

    payload = asyncio.run(first_event())
    try:
        sensor.execute_complete(CONTEXT, payload)
    except BaseException as err:
        return payload, type(err)
    return payload, None


@pytest.mark.parametrize(("fault", "service"), CELLS)
def test_gate_fault_cell(monkeypatch, untrusted_tls, fault, service):
    kind, sender25_error, xmailer_error = FAULTS[fault]
    expected = sender25_error if service == "sender25" else xmailer_error
    server = (
        None
        if fault in ("refused", "dns")
        else FaultServer(fault, tls_context=untrusted_tls if fault == "tls_untrusted" else None)
    )
    try:
        define_connections(
            monkeypatch, fault, server.port if server else free_port(), {**FAST_EXTRAS, "max_retries": 0}
        )
        poking = make_sensor(service, deferrable=False)
        if kind == CONFIG:
            # poke, the first poke of a deferrable sensor and the trigger: all end at once, same type
            with pytest.raises(expected) as poked:
                poking.poke(CONTEXT)
            assert isinstance(poked.value, AirflowFailException)
            with pytest.raises(expected):
                make_sensor(service, deferrable=True).execute(CONTEXT)
            with pytest.raises(AirflowSkipException):
                make_sensor(service, soft_fail=True).poke(CONTEXT)
            return
        # transient: poke keeps waiting until the limit, then ends with the fault's own type
        assert poking.poke(CONTEXT) is False
        with pytest.raises(expected):
            poking.poke(CONTEXT)
        # the first poke of a deferrable sensor keeps waiting too: it defers
        payload, raised = trigger_outcome(make_sensor(service, deferrable=True))
        assert payload["status"] == "error" and payload["polls"] == LIMIT
        assert raised is expected
    finally:
        if server is not None:
            server.close()


def test_a_fatal_error_in_the_trigger_keeps_its_type_and_soft_fail(monkeypatch, untrusted_tls):
    with FaultServer("404") as server:
        define_connections(monkeypatch, "404", server.port, {**FAST_EXTRAS, "max_retries": 0})
        # the first poke would already end on a 404: run the trigger the sensor would hand over
        payload = asyncio.run(_first(make_sensor("sender25", deferrable=True).build_trigger(CONTEXT)))
        assert payload["polls"] == 1
        with pytest.raises(AirflowSkipException):
            make_sensor("sender25", soft_fail=True).execute_complete(CONTEXT, payload)
        with pytest.raises(MailProviderError) as info:
            make_sensor("sender25").execute_complete(CONTEXT, payload)
        assert isinstance(info.value, AirflowFailException) and info.value.http_status == 404


async def _first(trigger):
    async for event in trigger.run():
        return event.payload
    return None
