"""Fixtures of the CeleryExecutor tests: one :class:`CeleryStack` for this whole package.

The tests are marked ``real_services`` and ``celery`` (``-m "not celery"`` leaves them out). Skipped
(with the reason) where the stack cannot run: not root, no Postgres/Redis (``make test``
installs them through ``make services-deps``), or Airflow 2 (the stack's client is REST API v2).
The emulators are the real-services package's (started first, stopped last).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mail._compat import AIRFLOW_V_3_0_PLUS
from airflow_provider_mail.testing import Sender25Emulator
from tests.conftest import REPO_ROOT
from tests.real_services.celery_stack import CeleryStack, missing_requirements

DAGS = Path(__file__).resolve().parent / "dags"
STATS: dict[str, Any] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "celery: runs under the CeleryExecutor stack (Postgres, Redis, two workers)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    why = missing_requirements() or (None if AIRFLOW_V_3_0_PLUS else "the Celery stack runs Airflow 3 only")
    for item in items:
        if why and Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.skip(reason=why))


@pytest.fixture(scope="package")
def celery_stack(
    sender25_service: Sender25Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CeleryStack]:
    """The running Celery deployment, started by the first test of this package, stopped after its last."""
    chosen = os.environ.get("MAIL_PROVIDER_CELERY_HOME")
    root = Path(chosen) if chosen else tmp_path_factory.mktemp("af-celery")
    root.mkdir(parents=True, exist_ok=True)
    env = {
        "AIRFLOW_CONN_SENDER25_DEFAULT": sender25_service.airflow_connection(),
        "RS_MARKER_DIR": str(root / "markers"),
    }
    began = time.monotonic()
    with CeleryStack(root, DAGS, env=env, pythonpath=[REPO_ROOT]) as running:
        STATS["start_seconds"] = time.monotonic() - began
        STATS["databases_seconds"] = running.timings_extra.get("databases", 0.0)
        STATS["migrate_seconds"] = running.timings.migrate
        yield running
        stopping = time.monotonic()
    STATS["stop_seconds"] = time.monotonic() - stopping


@pytest.fixture(autouse=True)
def _clean_emulator(sender25_service: Sender25Emulator) -> Iterator[None]:
    sender25_service.reset()
    sender25_service.set_network(rate_limit=None, latency=0.0, latency_jitter=0.0)
    began = time.monotonic()
    yield
    STATS.setdefault("per_test", {})[os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]] = (
        time.monotonic() - began
    )
    sender25_service.set_network(rate_limit=None, latency=0.0, latency_jitter=0.0)
    sender25_service.reset()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not STATS.get("per_test"):
        return
    write = terminalreporter.write_line
    write(
        "celery stack: postgres+redis {:.1f}s, db migrate {:.1f}s, healthy with workers {:.1f}s, "
        "stop {:.1f}s".format(
            STATS.get("databases_seconds", 0),
            STATS.get("migrate_seconds", 0),
            STATS.get("start_seconds", 0),
            STATS.get("stop_seconds", 0),
        )
    )
    for name, seconds in STATS["per_test"].items():
        write(f"celery: {seconds:6.1f}s {name}")
