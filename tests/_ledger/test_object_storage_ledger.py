"""The ledger on an ObjectStoragePath location, tested with a local ``file://`` directory."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from airflow_provider_mail._ledger import (
    MESSAGE_ROW,
    LedgerKey,
    SendLedger,
    open_ledger,
    purge_expired,
    resolve_backend,
)
from airflow_provider_mail._ledger.backends import (
    ObjectStorageBackend,
    TaskStateStoreBackend,
    VariableBackend,
)
from airflow_provider_mail.exceptions import MailConfigurationError, SendLedgerError


def context(map_index=-1, **extra):
    ti = SimpleNamespace(dag_id="billing", task_id="send", run_id="manual__1", map_index=map_index)
    return {"ti": ti, **extra}


@pytest.fixture
def location(tmp_path):
    return (tmp_path / "ledger").as_uri()


def accepted(ledger: SendLedger, try_number: int, result: dict) -> None:
    record = ledger.load() or ledger.new_record(generation=1)
    record.rows[MESSAGE_ROW] = {"state": "accepted", "try_number": try_number, "result": result}
    ledger.save(record)


def test_write_read_delete(location, tmp_path):
    ledger = open_ledger(context(), location)
    assert ledger is not None and ledger.load() is None
    accepted(ledger, 1, {"message_id": "m"})
    (stored,) = (tmp_path / "ledger").iterdir()
    assert stored.name == f"{ledger.key.name}.json"
    assert json.loads(stored.read_text())["rows"][MESSAGE_ROW]["result"] == {"message_id": "m"}
    assert ledger.load().rows[MESSAGE_ROW]["try_number"] == 1
    assert ledger.where == f"object {location}/{ledger.key.name}.json"
    ledger.forget()
    assert ledger.load() is None and list((tmp_path / "ledger").iterdir()) == []


def test_concurrent_mapped_task_instances_never_share_a_record(location):
    barrier = threading.Barrier(20)
    errors = []

    def run(index: int) -> None:
        try:
            ledger = open_ledger(context(map_index=index), location)
            barrier.wait()
            for attempt in range(5):
                accepted(ledger, attempt + 1, {"map_index": index, "attempt": attempt})
        except Exception as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for index in range(20):
        record = open_ledger(context(map_index=index), location).load()
        assert record.key.map_index == index
        assert record.rows[MESSAGE_ROW]["result"] == {"map_index": index, "attempt": 4}


def test_an_expired_record_is_ignored_and_purged(location, tmp_path):
    old = SendLedger(ObjectStorageBackend(location), LedgerKey("d", "t", "old"), retention=timedelta(days=7))
    fresh = SendLedger(
        ObjectStorageBackend(location), LedgerKey("d", "t", "fresh"), retention=timedelta(days=7)
    )
    accepted(old, 1, {"id": 1})
    accepted(fresh, 1, {"id": 2})
    (tmp_path / "ledger" / "airflow_provider_mail.ledger.not-ours.json").write_text("{broken")
    later = datetime.now(timezone.utc) + timedelta(days=8)
    assert old.load(now=later) is None  # ignored once expired
    assert old.load() is not None
    record = fresh.load()
    record.expires_at = later + timedelta(days=1)
    fresh.backend.write(fresh.key, record.to_json(), fresh.retention)  # as if written later
    assert purge_expired(location, now=later) == [old.key.name]
    assert old.load() is None and fresh.load() is not None
    assert (tmp_path / "ledger" / "airflow_provider_mail.ledger.not-ours.json").exists()  # left alone


def test_a_corrupt_file_is_an_error_naming_it(location, tmp_path):
    ledger = open_ledger(context(), location)
    (tmp_path / "ledger").mkdir()
    (tmp_path / "ledger" / f"{ledger.key.name}.json").write_text("{half a rec")
    with pytest.raises(SendLedgerError) as caught:
        ledger.load()
    assert ledger.key.name in str(caught.value) and ledger.key.name in caught.value.record


def test_retention_comes_from_the_configuration(location, monkeypatch):
    monkeypatch.setenv("AIRFLOW__MAIL_PROVIDER__SEND_LEDGER_RETENTION_DAYS", "2")
    ledger = open_ledger(context(), location)
    assert ledger.retention == timedelta(days=2)
    record = ledger.new_record(1)
    ledger.save(record)
    assert timedelta(days=1.9) < ledger.load().expires_at - datetime.now(timezone.utc) <= timedelta(days=2)


def test_backend_choice(location, monkeypatch):
    store = object()
    assert isinstance(resolve_backend("default", context(task_state_store=store)), TaskStateStoreBackend)
    assert isinstance(resolve_backend("default", context()), VariableBackend)
    assert isinstance(resolve_backend("VARIABLE", context(task_state_store=store)), VariableBackend)
    assert isinstance(resolve_backend(location, context()), ObjectStorageBackend)
    assert resolve_backend("off", context()) is None
    monkeypatch.setenv("AIRFLOW__MAIL_PROVIDER__SEND_LEDGER", "off")
    assert resolve_backend(None, context()) is None
    with pytest.raises(MailConfigurationError, match=r"Airflow 3\.3"):
        resolve_backend("task_state_store", context())
    with pytest.raises(MailConfigurationError, match="unknown send ledger"):
        resolve_backend("/var/lib/ledger", context())
