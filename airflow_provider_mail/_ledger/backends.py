"""Where ledger records live: Airflow's task state store, Airflow Variables, or an object-storage prefix.

Each backend stores a task instance's head and chunks as small JSON values, named by the record's
name plus a suffix (``""`` for the head, ``.t<try>.c<n>`` for a chunk), and knows nothing of
their format (:mod:`~airflow_provider_mail._ledger.record` does). Errors of the underlying store
propagate; the :class:`~airflow_provider_mail._ledger.ledger.SendLedger` wraps them.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Protocol

from airflow_provider_mail._ledger.record import NAME_PREFIX, LedgerKey

#: The key of the record inside a task instance's own task state store (Airflow 3.3+).
TASK_STATE_KEY = "airflow_provider_mail.send_ledger"
VARIABLE_DESCRIPTION = (
    "Send ledger of airflow-provider-mail: lets a retried mail task know what an earlier try already "
    "sent. Holds ids and states only. Safe to delete once it has expired (see expires_at)."
)


class LedgerBackend(Protocol):
    """A place that holds one record per task instance."""

    def describe(self, key: LedgerKey, suffix: str = "") -> str:
        """Where the value of ``key`` + ``suffix`` is, in words a user can follow (for logs and errors)."""

    def read(self, key: LedgerKey, suffix: str = "") -> Any:
        """The stored value (JSON text or object), or ``None``."""

    def write(self, key: LedgerKey, record: dict[str, Any], retention: timedelta, suffix: str = "") -> None:
        """Create or overwrite the value."""

    def delete(self, key: LedgerKey, suffix: str = "") -> None:
        """Remove the value (no error when absent)."""


class TaskStateStoreBackend:
    """The task instance's own task state store (Airflow 3.3+, ``context["task_state_store"]``).

    Scoped by Airflow to (DAG run, task, map index), shared by every try, deleted with the DAG run,
    expired by Airflow's own state-store cleanup, and visible on the task instance.

    :param store: the ``task_state_store`` accessor of the running task.
    """

    def __init__(self, store: Any) -> None:
        self.store = store

    def describe(self, key: LedgerKey, suffix: str = "") -> str:
        instance = key.name[len(NAME_PREFIX) :]
        return f"task state store key {TASK_STATE_KEY + suffix!r} of task instance {instance}"

    def read(self, key: LedgerKey, suffix: str = "") -> Any:
        return self.store.get(TASK_STATE_KEY + suffix)

    def write(self, key: LedgerKey, record: dict[str, Any], retention: timedelta, suffix: str = "") -> None:
        self.store.set(TASK_STATE_KEY + suffix, record, retention=retention)

    def delete(self, key: LedgerKey, suffix: str = "") -> None:
        self.store.delete(TASK_STATE_KEY + suffix)


class VariableBackend:
    """Airflow Variables in the metadata database, one per task instance, named by :attr:`LedgerKey.name`."""

    def describe(self, key: LedgerKey, suffix: str = "") -> str:
        return f"Airflow Variable {key.name + suffix!r}"

    def read(self, key: LedgerKey, suffix: str = "") -> Any:
        from airflow_provider_mail._compat import get_variable

        return get_variable(key.name + suffix)

    def write(self, key: LedgerKey, record: dict[str, Any], retention: timedelta, suffix: str = "") -> None:
        from airflow_provider_mail._compat import set_variable

        set_variable(key.name + suffix, json.dumps(record, sort_keys=True), VARIABLE_DESCRIPTION)

    def delete(self, key: LedgerKey, suffix: str = "") -> None:
        from airflow_provider_mail._compat import delete_variable

        delete_variable(key.name + suffix)

    def names(self) -> list[str]:
        """The names of every ledger Variable (for :func:`purge_expired`)."""
        from airflow_provider_mail._compat import variable_keys

        return variable_keys(NAME_PREFIX)

    def read_name(self, name: str) -> Any:
        """The stored record under ``name``."""
        from airflow_provider_mail._compat import get_variable

        return get_variable(name)

    def delete_name(self, name: str) -> None:
        """Delete the record ``name``."""
        from airflow_provider_mail._compat import delete_variable

        delete_variable(name)


class ObjectStorageBackend:
    """One ``<name>.json`` object per task instance under a prefix: ``s3://bucket/prefix``, ``file:///dir``…

    Uses Airflow's ``ObjectStoragePath``, so ``s3://conn_id@bucket/prefix`` picks the connection.

    :param location: the prefix URL.
    """

    def __init__(self, location: str) -> None:
        from airflow_provider_mail._compat import ObjectStoragePath

        self.location = location
        self.root = ObjectStoragePath(location)

    def _path(self, name: str) -> Any:
        return self.root / f"{name}.json"

    def describe(self, key: LedgerKey, suffix: str = "") -> str:
        return f"object {self.location.rstrip('/')}/{key.name + suffix}.json"

    def read(self, key: LedgerKey, suffix: str = "") -> Any:
        return self.read_name(key.name + suffix)

    def write(self, key: LedgerKey, record: dict[str, Any], retention: timedelta, suffix: str = "") -> None:
        if self.root.protocol in ("file", "local"):
            self.root.mkdir(parents=True, exist_ok=True)
        self._path(key.name + suffix).write_text(json.dumps(record, sort_keys=True))

    def delete(self, key: LedgerKey, suffix: str = "") -> None:
        self.delete_name(key.name + suffix)

    def names(self) -> list[str]:
        """The names of every ledger record under the prefix (for :func:`purge_expired`)."""
        if not self.root.exists():
            return []
        return [
            path.name[: -len(".json")]
            for path in self.root.iterdir()
            if path.name.startswith(NAME_PREFIX) and path.name.endswith(".json")
        ]

    def read_name(self, name: str) -> Any:
        """The stored record under ``name``."""
        path = self._path(name)
        return path.read_text() if path.exists() else None

    def delete_name(self, name: str) -> None:
        """Delete the record ``name``."""
        path = self._path(name)
        if path.exists():
            path.unlink()
