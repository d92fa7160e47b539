"""The API key under the CeleryExecutor: in no Postgres cell (trigger kwargs decrypted too), no Redis
key or value, no file on either worker's disk. Runs after the package's other tests (file order), so
the database, the broker and the disks hold everything they left: sends, bulks, retries, deferrals."""

from __future__ import annotations

import urllib.parse

import pytest
from cryptography.fernet import Fernet

from airflow_provider_mail.testing import Sender25Emulator
from tests.real_services.celery.test_celery_failover import deferred_gate, release
from tests.real_services.celery_stack import WORKERS, CeleryStack

pytestmark = [pytest.mark.real_services, pytest.mark.celery]


def forms(secret: str) -> list[bytes]:
    """The key as it could leak: raw, URL-encoded, JSON-escaped."""
    variants = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
    variants.add(secret.replace("\\", "\\\\").replace('"', '\\"'))
    return [variant.encode() for variant in variants]


def test_the_api_key_is_in_no_database_cell_no_broker_entry_and_no_file_on_either_worker(
    celery_stack: CeleryStack, sender25_service: Sender25Emulator
):
    secret = sender25_service.api_key
    leaks = forms(secret)
    # a live deferral, so that the trigger table holds its (encrypted) kwargs while we look
    dag_id, run_id, recipient, _ = deferred_gate(celery_stack, sender25_service)
    fernet = Fernet(celery_stack.fernet_key.encode())
    found: list[str] = []
    triggers = 0
    for table, column, value in celery_stack.postgres.cells():
        text = value if isinstance(value, bytes) else str(value).encode()
        if table == "trigger" and column == "kwargs":
            # Airflow 3.3 stores the kwargs of a deferral made through the execution API as plain
            # JSON; others are Fernet tokens: look at them decrypted either way
            triggers += 1
            if not text.startswith(b"{"):
                text = fernet.decrypt(text)
        if any(leak in text for leak in leaks):
            found.append(f"postgres {table}.{column}")
    assert triggers, "no live trigger to look into"
    for entry in celery_stack.redis.keys_and_values():
        if any(leak in entry for leak in leaks):
            found.append(f"redis {entry[:80]!r}")
    release(sender25_service, recipient)
    assert celery_stack.wait_run(dag_id, run_id, timeout=120) == "success"

    for name in WORKERS:
        files = list(celery_stack.worker_files(name))
        assert files, f"worker {name} wrote nothing: its disk is not where its AIRFLOW_HOME is"
        found.extend(
            f"worker {name}: {path}" for path in files if any(leak in path.read_bytes() for leak in leaks)
        )
    assert not found
