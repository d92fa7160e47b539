"""Shared fixtures. Airflow's environment is set here, at import time, before Airflow is imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
_AIRFLOW_HOME = Path(os.environ.get("MAIL_PROVIDER_TEST_AIRFLOW_HOME") or tempfile.mkdtemp(prefix="af-home-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO_ROOT / "example_dags")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")

import pytest  # noqa: E402

from airflow_provider_mail.testing import Sender25Emulator  # noqa: E402

#: Small waits so retry tests stay fast; the behaviour (count, order) is what is asserted.
FAST_RETRY_EXTRAS = {"retry_backoff": 0.01, "timeout": 2, "connect_timeout": 2}


@pytest.fixture
def sender25_conn(monkeypatch: pytest.MonkeyPatch, sender25_emulator: Sender25Emulator) -> Sender25Emulator:
    """Point ``sender25_default`` at the emulator with fast retries; return the emulator."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_SENDER25_DEFAULT", sender25_emulator.airflow_connection(**FAST_RETRY_EXTRAS)
    )
    return sender25_emulator


@pytest.fixture
def make_conn(monkeypatch: pytest.MonkeyPatch):
    """Define a connection from keyword fields through an ``AIRFLOW_CONN_*`` variable (no database)."""

    def define(conn_id: str = "sender25_default", **fields: object) -> str:
        body = {"conn_type": "sender25", **fields}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(body))
        return conn_id

    return define


@pytest.fixture
def hook(sender25_conn: Sender25Emulator):
    """A Sender25Hook on the emulator that records its backoff waits instead of sleeping them."""
    from airflow_provider_mail.hooks.sender25 import Sender25Hook

    with Sender25Hook() as instance:
        instance.recorded_waits = []  # type: ignore[attr-defined]
        instance._sleep = instance.recorded_waits.append  # type: ignore[attr-defined]
        yield instance


AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def run_airflow(
    *args: str, env: dict[str, str] | None = None, timeout: float = 400
) -> subprocess.CompletedProcess:
    """Run the `airflow` CLI of this venv in the test AIRFLOW_HOME."""
    return subprocess.run(
        [AIRFLOW, *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Create the metadata database once per session (`airflow dags test` needs it)."""
    result = run_airflow("db", "migrate")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


@pytest.fixture
def dags_test(airflow_db, sender25_emulator):
    """Run `airflow dags test DAG_ID` against the emulator; assert its exit code; return the output."""

    def run(
        dag_id: str,
        *,
        conf: dict | None = None,
        expect_exit: int = 0,
        dags_folder: Path | None = None,
        conn_extra: dict | None = None,
        extra_env: dict | None = None,
    ) -> str:
        env = {"AIRFLOW_CONN_SENDER25_DEFAULT": sender25_emulator.airflow_connection(**(conn_extra or {}))}
        env.update(extra_env or {})
        if dags_folder is not None:
            env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags_folder)
        args = ["dags", "test", *(["-c", json.dumps(conf)] if conf else []), dag_id]
        result = run_airflow(*args, env=env)
        output = result.stdout + result.stderr
        assert result.returncode == expect_exit, output[-6000:]
        return output

    return run
