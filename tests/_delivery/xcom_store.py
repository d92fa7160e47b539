"""An in-memory stand-in for Airflow's XCom table, for unit tests of the gate's pages.

Values are stored as JSON text, as XCom stores them (so sizes are measured as stored). The real path
(a task's and the triggerer's supervisor, the metadata database) runs under ``airflow dags test`` in
tests/sensors/test_gate_across_machines.py and under the real services in
tests/real_services/test_gate_pages.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest


class XComStore:
    """XComs keyed by ``(dag_id, run_id, task_id, map_index, key)``, as JSON text."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str, str, int, str], str] = {}

    def set(self, *, dag_id: str, run_id: str, task_id: str, map_index: int, key: str, value: Any) -> None:
        self.values[(dag_id, run_id, task_id, map_index, key)] = json.dumps(value)

    def get(self, *, dag_id: str, run_id: str, task_id: str, map_index: int, key: str) -> Any:
        text = self.values.get((dag_id, run_id, task_id, map_index, key))
        return None if text is None else json.loads(text)

    def keys(self, prefix: str = "") -> list[str]:
        return [key[-1] for key in self.values if key[-1].startswith(prefix)]

    def ti(self, dag_id: str = "d", run_id: str = "r", task_id: str = "gate", map_index: int = -1) -> StoreTI:
        return StoreTI(self, dag_id, run_id, task_id, map_index)


class StoreTI:
    """A running task instance whose ``xcom_push`` writes to the store."""

    try_number = 1

    def __init__(self, store: XComStore, dag_id: str, run_id: str, task_id: str, map_index: int) -> None:
        self.store, self.dag_id, self.run_id, self.task_id, self.map_index = (
            store,
            dag_id,
            run_id,
            task_id,
            map_index,
        )

    def xcom_push(self, key: str, value: Any) -> None:
        self.store.set(
            dag_id=self.dag_id,
            run_id=self.run_id,
            task_id=self.task_id,
            map_index=self.map_index,
            key=key,
            value=value,
        )


@pytest.fixture
def xcom_store(monkeypatch) -> XComStore:
    """Airflow's XCom reads and writes (``_compat.get_xcom``/``set_xcom``) go to an in-memory store."""
    from airflow_provider_mail import _compat

    store = XComStore()
    monkeypatch.setattr(_compat, "get_xcom", store.get)
    monkeypatch.setattr(_compat, "set_xcom", store.set)
    return store
