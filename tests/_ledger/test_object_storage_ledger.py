"""The ledger on an ObjectStoragePath location, tested with a local ``file://`` directory."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from airflow_provider_mail._ledger import (
    MESSAGE_ROW,
    LedgerKey,
    LedgerRow,
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


def accepted(ledger: SendLedger, try_number: int, result: dict, max_tries: int = 1) -> None:
    attempt = ledger.begin(max_tries=max_tries, try_number=try_number)
    chunk = attempt.mark([LedgerRow(MESSAGE_ROW, 0, "", "sending", try_number)])
    attempt.settle(chunk, [LedgerRow(MESSAGE_ROW, 0, "", "accepted", try_number, result)])


def found(ledger: SendLedger, try_number: int, max_tries: int = 1):
    return ledger.begin(max_tries=max_tries, try_number=try_number).earlier.find(MESSAGE_ROW, 0)


def test_write_read(location, tmp_path):
    ledger = open_ledger(context(), location)
    assert ledger is not None and ledger.read_head() is None
    accepted(ledger, 1, {"message_id": "m"})
    names = sorted(p.name for p in (tmp_path / "ledger").iterdir())
    assert names == [f"{ledger.key.name}.json", f"{ledger.key.name}.k1.c0.json"]
    assert ledger.where == f"object {location}/{ledger.key.name}.json"
    earlier = found(ledger, 2)
    assert earlier.result == {"message_id": "m"} and earlier.try_number == 1


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
        ledger = open_ledger(context(map_index=index), location)
        assert ledger.read_head().key.map_index == index
        assert found(ledger, 6).result == {"map_index": index, "attempt": 4}


def test_an_expired_record_is_ignored_and_purged(location, tmp_path):
    old = SendLedger(ObjectStorageBackend(location), LedgerKey("d", "t", "old"), retention=timedelta(days=7))
    fresh = SendLedger(
        ObjectStorageBackend(location), LedgerKey("d", "t", "fresh"), retention=timedelta(days=7)
    )
    accepted(old, 1, {"id": 1})
    (tmp_path / "ledger" / "airflow_provider_mail.ledger.not-ours.json").write_text("{broken")
    later = datetime.now(timezone.utc) + timedelta(days=8)
    assert old.begin(max_tries=1, try_number=2, now=later).earlier.find(MESSAGE_ROW, 0) is None  # expired
    accepted(old, 3, {"id": 1})
    fresh.retention = timedelta(days=30)
    accepted(fresh, 1, {"id": 2})
    purged = purge_expired(location, now=later + timedelta(days=1))
    assert sorted(purged) == sorted(f"{old.key.name}{s}" for s in ("", ".k1.c0", ".k3.c0"))
    assert old.read_head() is None and found(fresh, 2).result == {"id": 2}
    assert (tmp_path / "ledger" / "airflow_provider_mail.ledger.not-ours.json").exists()  # left alone


def test_a_corrupt_file_is_an_error_naming_it(location, tmp_path):
    ledger = open_ledger(context(), location)
    (tmp_path / "ledger").mkdir()
    (tmp_path / "ledger" / f"{ledger.key.name}.json").write_text("{half a rec")
    with pytest.raises(SendLedgerError) as caught:
        ledger.begin(max_tries=1, try_number=1)
    assert ledger.key.name in str(caught.value) and ledger.key.name in caught.value.record


def test_retention_comes_from_the_configuration(location, monkeypatch):
    monkeypatch.setenv("AIRFLOW__MAIL_PROVIDER__SEND_LEDGER_RETENTION_DAYS", "2")
    ledger = open_ledger(context(), location)
    assert ledger.retention == timedelta(days=2)
    ledger.begin(max_tries=1, try_number=1)
    assert (
        timedelta(days=1.9) < ledger.read_head().expires_at - datetime.now(timezone.utc) <= timedelta(days=2)
    )


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
