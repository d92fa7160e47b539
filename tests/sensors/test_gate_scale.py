"""The gate at scale, on the worker: the first poke polls as concurrently as the trigger (issue 15
item 10); one check, hook and keep-alive session per wait, closed at its end (issue 17 §2)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from types import SimpleNamespace

import pytest

from airflow_provider_mail._compat import TaskDeferred
from airflow_provider_mail._delivery.checks import POLL_CONCURRENCY
from airflow_provider_mail.hooks.sender25 import MESSAGE_PATH, Sender25Hook
from airflow_provider_mail.sensors.delivery import Sender25DeliverySensor
from airflow_provider_mail.testing import Sender25Emulator
from airflow_provider_mail.triggers.delivery import DeliveryTrigger

CONTEXT = {"ti": SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1, try_number=1)}


def send(count: int) -> dict:
    with Sender25Hook() as hook:
        return hook.send_message(
            to=[f"r{i}@example.org" for i in range(count)],
            from_email="n@example.com",
            subject="s",
            plain_body="b",
        )


def most_in_flight(records) -> int:
    """The most requests the server held at one moment (from its own log: arrival and answer times)."""
    events = sorted([(r.timestamp, 1) for r in records] + [(r.answered, -1) for r in records])
    level = peak = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    return peak


@pytest.mark.sender25_emulator(latency=0.2, delivery_delay=600)
def test_the_deferrable_first_poke_polls_as_concurrently_as_the_trigger(sender25_airflow_conn):
    emulator = sender25_airflow_conn
    send(3 * POLL_CONCURRENCY)
    sent = send(3 * POLL_CONCURRENCY)  # second batch: the ids awaited
    before = len(emulator.requests)
    operator = Sender25DeliverySensor(
        task_id="wait", messages=sent, poke_interval=30, timeout=600, deferrable=True
    )
    with pytest.raises(TaskDeferred):
        operator.execute(CONTEXT)
    reads = [r for r in emulator.requests[before:] if r.path == MESSAGE_PATH]
    assert len(reads) == 3 * POLL_CONCURRENCY  # every message once
    # one after the other, at most one would be in flight; the trigger keeps POLL_CONCURRENCY
    assert most_in_flight(reads) == POLL_CONCURRENCY


class ConnectionCounter:
    """A TCP relay in front of the emulator that counts the connections clients open through it."""

    def __init__(self, port: int) -> None:
        self.target = ("127.0.0.1", port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.opened = 0
        self.open_now = 0
        self.lock = threading.Condition()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.opened += 1
                self.open_now += 1
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            if from_client:  # the client hung up (or reset): its connection is closed
                with self.lock:
                    self.open_now -= 1
                    self.lock.notify_all()
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def wait_until_all_closed(self, timeout: float) -> bool:
        with self.lock:
            return self.lock.wait_for(lambda: self.open_now == 0, timeout)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def counted(monkeypatch):
    with Sender25Emulator(delivery_delay=0.8) as emulator:
        counter = ConnectionCounter(emulator.port)
        connection = json.loads(emulator.airflow_connection(retry_backoff=0.01, timeout=5))
        monkeypatch.setenv("AIRFLOW_CONN_SENDER25_DEFAULT", json.dumps({**connection, "port": emulator.port}))
        sent = send(1)
        monkeypatch.setenv("AIRFLOW_CONN_SENDER25_DEFAULT", json.dumps({**connection, "port": counter.port}))
        yield emulator, counter, sent
        counter.close()


def test_a_wait_keeps_one_connection_across_its_pokes_and_closes_it_at_the_end(counted):
    emulator, counter, sent = counted
    operator = Sender25DeliverySensor(task_id="wait", messages=sent, poke_interval=0.1, timeout=60)
    operator.execute(CONTEXT)
    pokes = len([r for r in emulator.requests if r.path == MESSAGE_PATH])
    assert pokes > 2, "delivered at the first poke: the test proves nothing"
    assert counter.opened == 1  # one keep-alive session for the whole wait, not one per poke
    assert counter.wait_until_all_closed(timeout=10)  # and it was closed when the wait ended


def test_the_gate_has_no_clock_or_sleep_seams():
    for cls in (DeliveryTrigger, Sender25DeliverySensor):
        for seam in ("clock", "sleep", "adaptive"):
            assert seam not in vars(cls) and not any(seam in vars(base) for base in cls.__mro__[1:3])


def test_an_unknown_service_is_refused_when_the_trigger_is_built():
    with pytest.raises(ValueError, match="sender25"):
        DeliveryTrigger(service="carrier-pigeon", conn_id="c", source={"inline": [1]}, policy={})


@pytest.mark.sender25_emulator(delivery_delay=1.0)
def test_a_results_file_is_read_once_per_wait_not_once_per_poke(sender25_airflow_conn, tmp_path):
    """An older bulk XCom (ids only in its results file): the first poke reads the file, later pokes of
    the same wait never do (here the file is gone after the first)."""
    from airflow_provider_mail._bulk.results import ResultsWriter

    sent = send(3)
    results = tmp_path / "results.jsonl"
    with ResultsWriter(str(results)) as writer:
        for row, (rcpt, entry) in enumerate(sent["messages"].items()):
            writer.write({"row": row, "status": "accepted", "to": [rcpt], "messages": {rcpt: entry}})
    bulk = {"counts": {"accepted": 3}, "results_path": str(results), "ids_in_xcom": False, "messages": {}}
    operator = Sender25DeliverySensor(task_id="wait", messages=bulk, poke_interval=0.1, timeout=60)
    assert operator.poke(CONTEXT) is False  # not delivered yet
    results.unlink()
    result = False
    for _ in range(200):
        result = operator.poke(CONTEXT)
        if result:
            break
        threading.Event().wait(0.1)
    assert result and result.xcom_value["total"] == 3 and result.xcom_value["complete"]
