"""A real Airflow stack for tests: scheduler + LocalExecutor (and friends) in their own processes.

:class:`AirflowStack` owns a fresh ``AIRFLOW_HOME`` with a SQLite database, starts the services
this Airflow version needs, each in its own session so its whole process group can be signalled,
and offers what a test needs: trigger a run, wait for it, read task-instance states, tries,
XComs and task logs, clear a task instance. Every wait has a deadline.

The Airflow version decides two things, both here and nowhere else (:func:`_services` and
:func:`make_client`):

* Airflow 3: ``api-server`` (mandatory: task processes talk to it), ``dag-processor``,
  ``scheduler`` and ``triggerer``; the test talks to the REST API v2.
* Airflow 2.11: ``scheduler`` (it parses DAGs itself) and ``triggerer``; there is no REST API
  without the heavy webserver, so the test uses the CLI to trigger and clear, and reads states
  and XComs straight from the SQLite database (read-only).

Task logs are read from the log files in ``AIRFLOW_HOME/logs`` (same layout on both versions).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from airflow_provider_mail._compat import AIRFLOW_V_3_0_PLUS

#: Run states after which a run does not change on its own.
FINISHED = frozenset({"success", "failed"})
_AIRFLOW = str(Path(sys.executable).with_name("airflow"))


class StackError(RuntimeError):
    """The stack did not start, or a wait ran past its deadline (the message says what it saw)."""


@dataclass
class TaskTry:
    """One try of a task instance."""

    try_number: int
    state: str | None


@dataclass
class Timings:
    """What the stack measured about itself (seconds, bytes)."""

    migrate: float = 0.0
    healthy: float = 0.0
    per_test: dict[str, float] = field(default_factory=dict)


def wait_for(
    what: str,
    probe: Callable[[], Any],
    timeout: float,
    interval: float = 0.25,
    describe: Callable[[], str] = str,
) -> Any:
    """Call ``probe`` until it returns something truthy; return that.

    :param what: what is awaited, for the error message.
    :param probe: the check; its exceptions count as "not yet".
    :param timeout: the deadline in seconds from now.
    :param interval: seconds between checks.
    :param describe: what to add to the error when the deadline passes.
    :raises StackError: at the deadline.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = probe()
        except Exception as err:  # a service still starting answers with errors
            result, last_error = None, err
        if result:
            return result
        if time.monotonic() >= deadline:
            seen = describe() if describe is not None else ""
            raise StackError(
                f"timed out after {timeout:.0f}s waiting for {what}; last error: {last_error!r} {seen}"
            )
        time.sleep(interval)


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _services(api_port: int) -> list[tuple[str, list[str]]]:
    """The services to start for this Airflow version, as ``(name, airflow arguments)``."""
    if AIRFLOW_V_3_0_PLUS:
        return [
            ("api-server", ["api-server", "--host", "127.0.0.1", "--port", str(api_port)]),
            ("dag-processor", ["dag-processor"]),
            ("scheduler", ["scheduler", "--skip-serve-logs"]),
            ("triggerer", ["triggerer", "--skip-serve-logs"]),
        ]
    return [
        ("scheduler", ["scheduler", "--skip-serve-logs"]),
        ("triggerer", ["triggerer", "--skip-serve-logs"]),
    ]


def _version_env(api_port: int) -> dict[str, str]:
    """Configuration that only one Airflow version needs."""
    if AIRFLOW_V_3_0_PLUS:
        return {
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex,
            # A frozen try (SIGSTOP, tests of the ledger's fence) stops heartbeating: fail it after
            # 20 s instead of 5 minutes, so its retry starts while it is still frozen.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
        }
    # Airflow 2 refuses LocalExecutor on SQLite unless told that a test knows what it does (the
    # switch Airflow's own test suite uses). Our tests run one or two tasks at a time, which SQLite
    # serialises well enough; Postgres is not available on the CI machines.
    return {
        "_AIRFLOW__SKIP_DATABASE_EXECUTOR_COMPATIBILITY_CHECK": "1",
        # A SIGKILLed task leaves its task instance "running" until the scheduler's zombie check
        # (every 10 s by default) fails it; look every 2 s so a retry starts soon after a kill.
        "AIRFLOW__SCHEDULER__ZOMBIE_DETECTION_INTERVAL": "2",
    }


class AirflowStack:
    """A fresh Airflow home with its services running; use as a context manager.

    :param home: an empty directory for ``AIRFLOW_HOME``.
    :param dags_folder: the DAG files to serve.
    :param env: more environment for every process (connections, markers); it wins over ours.
    :param pythonpath: directories put first on ``PYTHONPATH`` (the package under test).
    """

    def __init__(
        self, home: Path, dags_folder: Path, *, env: Mapping[str, str] = (), pythonpath: Iterable[Path] = ()
    ) -> None:
        self.home = home
        self.dags_folder = dags_folder
        self.api_port = free_port()
        self.timings = Timings()
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, Path] = {}
        path = [str(p) for p in pythonpath] + [p for p in [os.environ.get("PYTHONPATH", "")] if p]
        self.env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # The default 32 pre-forks 32 idle workers on Airflow 3; the tests run one task at a time.
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "PYTHONPATH": os.pathsep.join(path),
            **_version_env(self.api_port),
            **dict(env),
        }
        self.client = make_client(self)

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> AirflowStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def airflow(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run the ``airflow`` CLI in this home; raise with its output when it fails."""
        result = subprocess.run(
            [_AIRFLOW, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise StackError(f"airflow {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}")
        return result

    def start(self) -> None:
        """Migrate the database, start the services and wait until they are healthy."""
        began = time.monotonic()
        self.airflow("db", "migrate", timeout=180)
        self.timings.migrate = time.monotonic() - began
        for name, _ in _services(self.api_port):
            self.start_service(name)
        self.client.wait_healthy(timeout=120)
        self.timings.healthy = time.monotonic() - began

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM every service group, wait up to ``grace`` seconds, then SIGKILL what is left.

        Only our own process groups are signalled, by id; every child is waited on.
        """
        for proc in self._procs.values():
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self._procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self._procs.values():
            # Also the group's stragglers (executor workers, task processes) once the leader is gone.
            _signal_group(proc, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        self._procs.clear()

    def start_service(self, name: str) -> None:
        """Start one service (again, after :meth:`kill_service`); its output is appended to its log."""
        (args,) = [args for service, args in _services(self.api_port) if service == name]
        log = self.home / f"{name}.out"
        self._logs[name] = log
        with log.open("ab") as out:
            self._procs[name] = subprocess.Popen(
                [_AIRFLOW, *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: we signal the group
            )

    def kill_service(self, name: str) -> None:
        """SIGKILL one service's whole process group (by its id) and reap it; the others keep running."""
        proc = self._procs.pop(name)
        _signal_group(proc, signal.SIGKILL)
        proc.wait(timeout=30)

    def check_alive(self) -> None:
        """Raise if a service died (its output tail says why)."""
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                raise StackError(
                    f"{name} exited with {proc.returncode}:\n{self.service_output(name)[-3000:]}"
                )

    def service_output(self, name: str) -> str:
        """What a service printed so far."""
        return self._logs[name].read_text(errors="replace") if name in self._logs else ""

    def memory_bytes(self) -> int:
        """Proportional set size (PSS) of every process in the services' groups (services, executor
        workers, task processes): pages shared after a fork count once, unlike summed RSS."""
        groups = {proc.pid for proc in self._procs.values()}
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) not in groups:  # field 5 of stat: the process group id
                    continue
                rollup = (stat.parent / "smaps_rollup").read_text()
                pss_kib = next(
                    int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:")
                )
                total += pss_kib * 1024
            except (OSError, IndexError, ValueError, StopIteration):
                continue
        return total

    # -- runs ---------------------------------------------------------------------------------

    def wait_dag(self, dag_id: str, timeout: float = 90) -> None:
        """Wait until the DAG is parsed, serialized and unpaused."""
        wait_for(
            f"DAG {dag_id} to be parsed", lambda: self.client.dag_ready(dag_id), timeout, 0.5, self._tail
        )

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Start a manual run of ``dag_id`` with ``conf``; return its run id."""
        self.wait_dag(dag_id)
        run_id = f"rs-{uuid.uuid4().hex[:12]}"
        self.client.trigger(dag_id, run_id, dict(conf or {}))
        return run_id

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        """The run's state."""
        return self.client.run_state(dag_id, run_id)

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 120) -> str:
        """Wait until the run is finished; return ``success`` or ``failed``."""

        def finished() -> str | None:
            self.check_alive()
            state = self.client.run_state(dag_id, run_id)
            return state if state in FINISHED else None

        return wait_for(f"run {dag_id}/{run_id} to finish", finished, timeout, 0.5, self._tail)

    def task_state(self, dag_id: str, run_id: str, task_id: str) -> TaskTry:
        """The task instance's current try number and state."""
        return self.client.task_state(dag_id, run_id, task_id)

    def wait_task(
        self, dag_id: str, run_id: str, task_id: str, states: Iterable[str], timeout: float = 90
    ) -> TaskTry:
        """Wait until the task instance is in one of ``states``."""
        wanted = set(states)

        def reached() -> TaskTry | None:
            self.check_alive()
            current = self.client.task_state(dag_id, run_id, task_id)
            return current if current.state in wanted else None

        return wait_for(f"{dag_id}/{run_id}/{task_id} in {sorted(wanted)}", reached, timeout, 0.5, self._tail)

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[TaskTry]:
        """Every try of the task instance so far, oldest first."""
        return self.client.tries(dag_id, run_id, task_id)

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """The task instance's XCom ``key`` (of its latest try), deserialized; ``None`` if absent."""
        return self.client.xcom(dag_id, run_id, task_id, key)

    def clear(self, dag_id: str, run_id: str, task_id: str) -> None:
        """Clear a (finished) task instance so the scheduler runs it again."""
        self.client.clear(dag_id, run_id, task_id)

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """The text of one try's task log file ('' if there is none yet)."""
        path = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        log = path / f"attempt={try_number}.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def _tail(self) -> str:
        return "\n".join(f"--- {name}:\n{self.service_output(name)[-1500:]}" for name in self._logs)


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    # The group id is the leader's pid (start_new_session=True); it may outlive the leader.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


# -- how the test talks to the stack (the one version branch for clients) ------------------------


def make_client(stack: AirflowStack) -> RestV2Client | CliSqliteClient:
    """The client for this Airflow version: REST v2 on Airflow 3, CLI + SQLite reads on 2.11."""
    return RestV2Client(stack) if AIRFLOW_V_3_0_PLUS else CliSqliteClient(stack)


class RestV2Client:
    """Airflow 3's public REST API (simple auth manager, everyone admin: no token)."""

    def __init__(self, stack: AirflowStack) -> None:
        self.stack = stack
        self.base = f"http://127.0.0.1:{stack.api_port}/api/v2"
        self.http = requests.Session()

    def _get(self, path: str, **params: Any) -> Any:
        response = self.http.get(self.base + path, params=params, timeout=10)
        response.raise_for_status()
        return response.json()

    def _post(self, path: str, body: Mapping[str, Any]) -> Any:
        response = self.http.post(self.base + path, json=body, timeout=10)
        if response.status_code >= 400:
            raise StackError(f"POST {path} -> {response.status_code}: {response.text[:2000]}")
        return response.json()

    def wait_healthy(self, timeout: float) -> None:
        def healthy() -> bool:
            self.stack.check_alive()
            body = self._get("/monitor/health")
            parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
            return all((body.get(part) or {}).get("status") == "healthy" for part in parts)

        wait_for("the services to be healthy", healthy, timeout, 0.5, self.stack._tail)

    def dag_ready(self, dag_id: str) -> bool:
        body = self._get(f"/dags/{dag_id}")
        return not body.get("is_paused")

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any]) -> None:
        self._post(f"/dags/{dag_id}/dagRuns", {"dag_run_id": run_id, "logical_date": None, "conf": conf})

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        return self._get(f"/dags/{dag_id}/dagRuns/{run_id}")["state"]

    def task_state(self, dag_id: str, run_id: str, task_id: str) -> TaskTry:
        body = self._get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")
        return TaskTry(body["try_number"], body["state"])

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[TaskTry]:
        body = self._get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries")
        rows = [TaskTry(row["try_number"], row["state"]) for row in body["task_instances"]]
        return sorted(rows, key=lambda row: row.try_number)

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        response = self.http.get(self.base + path, params={"deserialize": "true"}, timeout=10)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()["value"]

    def clear(self, dag_id: str, run_id: str, task_id: str) -> None:
        self._post(
            f"/dags/{dag_id}/clearTaskInstances",
            {"dry_run": False, "dag_run_id": run_id, "task_ids": [task_id], "only_failed": False},
        )


class CliSqliteClient:
    """Airflow 2.11 without a webserver: the CLI writes, a read-only SQLite connection reads."""

    def __init__(self, stack: AirflowStack) -> None:
        self.stack = stack
        self.db = stack.home / "airflow.db"

    def _rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        # Read-only and short-lived, so the scheduler's writes are never blocked for long.
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)) as db:
            return db.execute(sql, args).fetchall()

    def wait_healthy(self, timeout: float) -> None:
        def healthy() -> bool:
            self.stack.check_alive()
            fresh = "datetime(latest_heartbeat) > datetime('now', '-30 seconds')"
            rows = self._rows(f"SELECT job_type FROM job WHERE state = 'running' AND {fresh}")
            return {"SchedulerJob", "TriggererJob"} <= {row[0] for row in rows}

        wait_for("the services to be healthy", healthy, timeout, 0.5, self.stack._tail)

    def dag_ready(self, dag_id: str) -> bool:
        rows = self._rows(
            "SELECT d.is_paused FROM dag d JOIN serialized_dag s ON s.dag_id = d.dag_id "
            "WHERE d.dag_id = ? AND d.is_active",
            dag_id,
        )
        return bool(rows) and not rows[0][0]

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any]) -> None:
        self.stack.airflow("dags", "trigger", "-r", run_id, "-c", json.dumps(conf), dag_id)

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        rows = self._rows("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", dag_id, run_id)
        return rows[0][0] if rows else None

    def task_state(self, dag_id: str, run_id: str, task_id: str) -> TaskTry:
        rows = self._rows(
            "SELECT try_number, state FROM task_instance WHERE dag_id = ? AND run_id = ? AND task_id = ?"
            " AND map_index = -1",
            dag_id,
            run_id,
            task_id,
        )
        if not rows:
            raise StackError(f"no task instance {dag_id}/{run_id}/{task_id}")
        return TaskTry(rows[0][0], rows[0][1])

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[TaskTry]:
        where = "dag_id = ? AND run_id = ? AND task_id = ? AND map_index = -1"
        history = self._rows(
            f"SELECT try_number, state FROM task_instance_history WHERE {where}", dag_id, run_id, task_id
        )
        rows = {number: TaskTry(number, state) for number, state in history}
        current = self.task_state(dag_id, run_id, task_id)
        if current.state != "up_for_retry":  # already in the history, as on Airflow 3
            rows[current.try_number] = current
        return [rows[number] for number in sorted(rows)]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
        rows = self._rows(
            "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ? AND key = ? AND map_index = -1",
            dag_id,
            run_id,
            task_id,
            key,
        )
        return json.loads(rows[0][0]) if rows else None

    def clear(self, dag_id: str, run_id: str, task_id: str) -> None:
        # `tasks clear` selects runs by logical date; this run's is the only one at that instant.
        (logical_date,) = self._rows(
            "SELECT execution_date FROM dag_run WHERE dag_id = ? AND run_id = ?", dag_id, run_id
        )[0]
        when = str(logical_date).replace(" ", "T")
        self.stack.airflow("tasks", "clear", "-y", "-t", f"^{task_id}$", "-s", when, "-e", when, dag_id)
