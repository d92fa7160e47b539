"""A CeleryExecutor deployment on one machine, for tests: Postgres, Redis and two of everything.

:class:`CeleryStack` extends :class:`~tests.real_services.harness.AirflowStack` (same REST client,
waits and run helpers) with what users run when they outgrow one machine:

* **PostgreSQL** (Debian's ``postgres``, run as the ``postgres`` user: it refuses root) and **Redis**
  (``redis-server``), each on a free loopback port in a temporary directory, stopped by process id;
* **two Celery workers**, each a separate "machine" as far as files go: its own ``AIRFLOW_HOME``
  and DAGs copy on its own disk. Separate directories do not hide absolute paths from each other,
  so each worker runs in its own mount namespace (``unshare --mount``) with its disk mounted at
  one common path: a file worker A writes under its ``AIRFLOW_HOME`` does not exist for worker B.
  Worker ``a`` serves the queues ``rs_a`` and ``default``, worker ``b`` ``rs_b`` and ``default``;
* **two triggerers**, the api-server, the scheduler and the dag-processor.

Every process names its machine through ``$RS_HOSTNAME`` (:mod:`.celery.hostname`), so a task
instance's ``hostname`` says which worker ran it, and the ``job`` table which triggerer owns a
trigger. Needs root (mount namespaces; Postgres as another user), Linux, ``postgres`` and
``redis-server``; :func:`missing_requirements` says what is missing.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from glob import glob
from pathlib import Path
from typing import Any

from tests.real_services.harness import _AIRFLOW, AirflowStack, StackError, free_port, wait_for

#: The worker "machines" and the queues each serves (its own, plus the shared one a retry can use).
WORKERS: dict[str, str] = {"a": "rs_a,default", "b": "rs_b,default"}
TRIGGERERS = ("1", "2")
#: Seconds: a killed worker's task is failed (and retried) this long after its last heartbeat;
#: a killed triggerer's triggers move once its heartbeat is this old.
HEARTBEAT_TIMEOUT = 8
TRIGGERER_TAKEOVER = 6


def postgres_binary() -> str | None:
    """Debian's ``postgres`` server binary (newest major version), if installed."""
    found = sorted(glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    return found[-1] if found else shutil.which("postgres")


def missing_requirements() -> str | None:
    """Why this machine cannot run the stack (``None`` when it can)."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return "the Celery stack needs Linux and root (mount namespaces, Postgres as its own user)"
    if postgres_binary() is None or shutil.which("redis-server") is None:
        return "postgres and redis-server are not installed (make services-deps installs them)"
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no 'postgres' system user (the Debian postgresql package creates it)"
    try:
        import airflow.providers.celery  # noqa: F401
        import psycopg2  # noqa: F401
        import redis  # noqa: F401
    except ImportError as err:
        return f"a Celery test dependency is missing: {err}"
    return None


class Postgres:
    """A throw-away PostgreSQL cluster on a free loopback port (trust auth, no fsync).

    :param root: an empty directory it may own (handed to the ``postgres`` user).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.binary = postgres_binary() or "postgres"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"postgres@127.0.0.1:{self.port}/postgres"

    def _chown(self, path: Path) -> None:
        user = pwd.getpwnam("postgres")
        os.chown(path, user.pw_uid, user.pw_gid)

    def init(self) -> None:
        """``initdb`` as the ``postgres`` user."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._chown(self.root)
        initdb = str(Path(self.binary).with_name("initdb"))
        result = subprocess.run(
            [initdb, "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"],
            user="postgres",
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(f"initdb failed: {result.stderr[-2000:]}")

    def start(self, timeout: float = 60) -> None:
        """Start the server and wait until it takes connections."""
        log = (self.root / "postgres.log").open("ab")
        self.proc = subprocess.Popen(
            [
                self.binary,
                *("-D", str(self.data), "-p", str(self.port), "-h", "127.0.0.1", "-k", str(self.root)),
                *("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"),
                *("-c", "max_connections=300"),
            ],
            user="postgres",
            cwd=self.root,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        wait_for("postgres to take connections", self.ping, timeout, 0.2, self.tail)

    def ping(self) -> bool:
        import psycopg2

        if self.proc is not None and self.proc.poll() is not None:
            raise StackError(f"postgres exited with {self.proc.returncode}: {self.tail()}")
        with contextlib.closing(psycopg2.connect(self.dsn(), connect_timeout=2)):
            return True

    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def stop(self, timeout: float = 30) -> None:
        """Fast shutdown (SIGINT to the postmaster), then SIGKILL its group if it lingers."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        """Stop and start again on the same port and data (open connections break)."""
        self.stop()
        self.start()

    def tail(self) -> str:
        log = self.root / "postgres.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""

    def cells(self) -> Iterable[tuple[str, str, Any]]:
        """Every non-null cell of every table in the public schema, as ``(table, column, value)``."""
        import psycopg2

        with contextlib.closing(psycopg2.connect(self.dsn())) as db, db.cursor() as cursor:
            cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            tables = [row[0] for row in cursor.fetchall()]
            for table in tables:
                cursor.execute(f'SELECT * FROM "{table}"')
                names = [column.name for column in cursor.description]
                for row in cursor.fetchall():
                    for name, value in zip(names, row, strict=True):
                        if value is not None:
                            yield table, name, value

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        import psycopg2

        with contextlib.closing(psycopg2.connect(self.dsn())) as db, db.cursor() as cursor:
            cursor.execute(sql, args)
            return cursor.fetchall()


class Redis:
    """A throw-away Redis on a free loopback port, nothing persisted."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        log = (self.root / "redis.log").open("ab")
        self.proc = subprocess.Popen(
            [
                "redis-server",
                *("--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
                *("--dir", str(self.root), "--daemonize", "no"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        wait_for("redis to answer PING", self.ping, timeout, 0.1)

    def ping(self) -> bool:
        import redis

        return bool(redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2).ping())

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def keys_and_values(self) -> Iterable[bytes]:
        """Every key and every stored value (strings, lists, hashes, sets), raw."""
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port)
        for key in client.scan_iter(count=500):
            yield key
            kind = client.type(key)
            if kind == b"string":
                yield client.get(key) or b""
            elif kind == b"list":
                yield from client.lrange(key, 0, -1)
            elif kind == b"hash":
                for field, value in client.hgetall(key).items():
                    yield field
                    yield value
            elif kind in (b"set", b"zset"):
                yield from (client.smembers(key) if kind == b"set" else client.zrange(key, 0, -1))


class CeleryStack(AirflowStack):
    """Postgres + Redis + CeleryExecutor with two workers (own disks) and two triggerers.

    :param root: an empty directory: control home, worker disks, Redis files.
    :param dags_folder: the DAG files; each worker gets its own copy.
    :param env: more environment for every process; it wins over ours.
    :param pythonpath: directories put first on ``PYTHONPATH`` (the package under test).
    :param worker_concurrency: task slots per worker.
    """

    def __init__(
        self,
        root: Path,
        dags_folder: Path,
        *,
        env: Mapping[str, str] = (),
        pythonpath: Iterable[Path] = (),
        worker_concurrency: int = 2,
    ) -> None:
        from cryptography.fernet import Fernet

        self.root = root
        # Postgres runs as its own user, who cannot enter pytest's 0700 temporary directories.
        self.postgres = Postgres(Path(tempfile.mkdtemp(prefix="rs-pg-")))
        self.redis = Redis(root / "redis")
        #: The common path every worker sees its own disk at, and the disks behind it.
        self.machine = root / "machine"
        self.disks = {name: root / f"disk-{name}" for name in WORKERS}
        self.fernet_key = Fernet.generate_key().decode()
        self.worker_concurrency = worker_concurrency
        db = f"postgresql+psycopg2://{self.postgres.url}"
        celery_env = {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(4 * worker_concurrency),
            "AIRFLOW__CORE__FERNET_KEY": self.fernet_key,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.real_services.celery.hostname.rs_hostname",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db,
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{self.redis.port}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{self.postgres.url}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(worker_concurrency),
            "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(TRIGGERER_TAKEOVER),
            "RS_HOSTNAME": "control",
        }
        super().__init__(
            root / "control", dags_folder, env={**celery_env, **dict(env)}, pythonpath=pythonpath
        )
        self._commands: dict[str, tuple[list[str], dict[str, str]]] = {}
        #: inside :meth:`supervised`: the services started again so far
        self._restarted: list[str] | None = None
        self.timings_extra: dict[str, float] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        began = time.monotonic()
        self.home.mkdir(parents=True, exist_ok=True)
        self.postgres.init()
        self.postgres.start()
        self.redis.start()
        self.timings_extra["databases"] = time.monotonic() - began
        self.airflow("db", "migrate", timeout=300)
        self.timings.migrate = time.monotonic() - began - self.timings_extra["databases"]
        api = ["api-server", "--host", "127.0.0.1", "--port", str(self.api_port)]
        self._define("api-server", api)
        self._define("dag-processor", ["dag-processor"])
        self._define("scheduler", ["scheduler", "--skip-serve-logs"])
        for number in TRIGGERERS:
            self._define(f"triggerer-{number}", ["triggerer", "--skip-serve-logs"])
        self.machine.mkdir(parents=True, exist_ok=True)
        for name, queues in WORKERS.items():
            disk = self.disks[name]
            (disk / "home").mkdir(parents=True, exist_ok=True)
            shutil.copytree(self.dags_folder, disk / "dags", dirs_exist_ok=True)
            worker = [
                "celery",
                "worker",
                *("-q", queues, "-H", f"worker-{name}@%h", "-c", str(self.worker_concurrency)),
                *("--skip-serve-logs", "--without-gossip", "--without-mingle"),
            ]
            mounted = {
                "AIRFLOW_HOME": str(self.machine / "home"),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.machine / "dags"),
            }
            self._define(f"worker-{name}", worker, mounted, disk=disk)
        for name in self._commands:
            self.start_service(name)
        self._wait_alive("the services to be healthy", self._healthy, 180)
        self.wait_workers(timeout=120)
        self.timings.healthy = time.monotonic() - began

    def _define(
        self, name: str, args: list[str], env: Mapping[str, str] = (), disk: Path | None = None
    ) -> None:
        command = [_AIRFLOW, *args]
        if disk is not None:
            # Its own mount namespace with its own disk at the common path: its "machine".
            script = 'mount --bind "$1" "$2" && shift 2 && exec "$@"'
            command = [
                *("unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script),
                *("sh", str(disk), str(self.machine), *command),
            ]
        self._commands[name] = (command, {**self.env, **dict(env), "RS_HOSTNAME": name})

    def start_service(self, name: str) -> None:
        """Start (or restart) one service, in its own session, appending to its output file."""
        command, env = self._commands[name]
        log = self.root / f"{name}.out"
        self._logs[name] = log
        with log.open("ab") as out:
            self._procs[name] = subprocess.Popen(
                command,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def kill_service(self, name: str) -> None:
        """SIGKILL a service's whole process group (a machine lost: no cleanup of any kind)."""
        proc = self._procs.pop(name)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def restart_worker(self, name: str, timeout: float = 90) -> None:
        """Start ``worker-<name>`` again (after :meth:`kill_service`) and wait until it answers."""
        self.start_service(f"worker-{name}")
        self.wait_workers(timeout)

    @contextlib.contextmanager
    def supervised(self) -> Iterator[list[str]]:
        """Within the block, a service that exits is started again, as systemd's ``Restart=`` or a
        Kubernetes pod's restart policy does in production (Airflow's scheduler and a starting
        triggerer exit when the metadata database goes away, depending on what they were doing).
        Yields the names restarted; on leaving, waits until the stack is whole and healthy again.
        """
        restarted: list[str] = []
        self._restarted = restarted
        try:
            yield restarted
        finally:
            self._restarted = None
        self.check_alive()
        self._wait_alive("the stack to be healthy again", self._healthy, 120)
        for name in restarted:
            if name.startswith("worker-"):
                self.wait_workers(90)

    def check_alive(self) -> None:
        """Raise if a service died; inside :meth:`supervised`, start it again instead."""
        restarted = self._restarted
        if restarted is not None:
            for name, proc in list(self._procs.items()):
                if proc.poll() is not None:
                    restarted.append(name)
                    self.start_service(name)
        super().check_alive()

    def restart_triggerer(self, name: str, timeout: float = 90) -> None:
        """Start ``name`` (a triggerer) again and wait until it has registered its job and heartbeats.

        A triggerer that is still starting dies when the database goes away (Airflow does not retry its
        first job insert), so a test that breaks the database must not begin before this returns.
        """
        since = self.postgres.query("SELECT now()")[0][0]
        self.start_service(name)

        def registered() -> bool:
            rows = self.postgres.query(
                "SELECT 1 FROM job WHERE job_type = 'TriggererJob' AND hostname = %s AND state = 'running' "
                "AND start_date >= %s AND latest_heartbeat > start_date",
                name,
                since,
            )
            return bool(rows)

        self._wait_alive(f"{name} to register and heartbeat", registered, timeout)

    def _wait_alive(self, what: str, probe: Callable[[], Any], timeout: float) -> None:
        """:func:`wait_for`, failing at once (with its output) when a service has died."""

        def alive_and(probe: Callable[[], Any] = probe) -> Any:
            try:
                self.check_alive()
            except StackError as died:
                raise _Fatal(died) from None
            return probe()

        try:
            wait_for(what, alive_and, timeout, 1.0, self._tail)
        except _Fatal as fatal:
            raise fatal.error from None

    def _healthy(self) -> bool:
        body = self.client._get("/monitor/health")
        parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        return all((body.get(part) or {}).get("status") == "healthy" for part in parts)

    def wait_workers(self, timeout: float) -> None:
        """Wait until every running worker answers a Celery ping."""
        wanted = {f"worker-{name}" for name in WORKERS if f"worker-{name}" in self._procs}

        def answered() -> bool:
            result = self.airflow_python(
                "from airflow.providers.celery.executors.celery_executor_utils import app;"
                "print(' '.join(n for r in (app.control.ping(timeout=2) or []) for n in r))"
            )
            return wanted <= {node.split("@")[0] for node in result.split()}

        self._wait_alive(f"celery workers {sorted(wanted)} to answer", answered, timeout)

    def airflow_python(self, code: str) -> str:
        """Run Python code with the control home's configuration; return its output."""
        result = subprocess.run(
            [sys.executable, "-c", code],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(result.stderr[-2000:])
        return result.stdout

    def stop(self, grace: float = 15.0) -> None:
        try:
            super().stop(grace)
        finally:
            self.redis.stop()
            self.postgres.stop()
            shutil.rmtree(self.postgres.root, ignore_errors=True)

    # -- what the tests wait for and read -------------------------------------------------------

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 180) -> str:
        """Wait until the run is finished (failing at once if a service died); return its state."""
        found: list[str] = []

        def finished() -> bool:
            state = self.client.run_state(dag_id, run_id)
            if state in ("success", "failed"):
                found.append(state)
            return bool(found)

        self._wait_alive(f"run {dag_id}/{run_id} to finish", finished, timeout)
        return found[0]

    def wait_task(
        self, dag_id: str, run_id: str, task_id: str, states: Iterable[str], timeout: float = 120
    ) -> Any:
        """Wait until the task instance is in one of ``states`` (failing at once if a service died)."""
        wanted = set(states)
        self._wait_alive(
            f"{dag_id}/{run_id}/{task_id} in {sorted(wanted)}",
            lambda: self.client.task_state(dag_id, run_id, task_id).state in wanted,
            timeout,
        )
        return self.client.task_state(dag_id, run_id, task_id)

    def wait_marker(self, dag_id: str, run_id: str, name: str, timeout: float = 120) -> tuple[str, int]:
        """Wait for the marker ``name`` of a run (see the DAGs); return ``(worker, pid)`` it names."""
        path = Path(self.env["RS_MARKER_DIR"]) / dag_id / run_id / name
        self._wait_alive(f"marker {name} of {dag_id}/{run_id}", path.exists, timeout)
        worker, pid = path.read_text().split()
        return worker, int(pid)

    def worker_files(self, name: str) -> Iterable[Path]:
        """Every file on worker ``name``'s disk."""
        return (path for path in self.disks[name].rglob("*") if path.is_file())

    def task_instance(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        """The task instance as the REST API returns it (``hostname``: the worker that ran it)."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        if map_index >= 0:
            path += f"/{map_index}"
        return self.client._get(path)

    def mapped_instances(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        body = self.client._get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/listMapped")
        return sorted(body["task_instances"], key=lambda ti: ti["map_index"])

    def trigger_owner(self, dag_id: str, run_id: str, task_id: str) -> str | None:
        """The triggerer (``triggerer-1``/``-2``) running the task instance's trigger, if any."""
        rows = self.postgres.query(
            "SELECT job.hostname FROM task_instance ti JOIN trigger t ON t.id = ti.trigger_id "
            "JOIN job ON job.id = t.triggerer_id "
            "WHERE ti.dag_id = %s AND ti.run_id = %s AND ti.task_id = %s",
            dag_id,
            run_id,
            task_id,
        )
        return rows[0][0] if rows else None

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """A try's log, from whichever worker's disk holds it."""
        relative = Path(
            f"dag_id={dag_id}", f"run_id={run_id}", f"task_id={task_id}", f"attempt={try_number}.log"
        )
        for disk in self.disks.values():
            log = disk / "home" / "logs" / relative
            if log.exists():
                return log.read_text(errors="replace")
        return ""


class _Fatal(BaseException):  # not an Exception: wait_for must not take it for "not yet"
    """A dead service seen during a wait (never swallowed as "not yet")."""

    def __init__(self, error: StackError) -> None:
        super().__init__(str(error))
        self.error = error


def fresh_tag() -> str:
    return uuid.uuid4().hex[:8]


__all__ = ["HEARTBEAT_TIMEOUT", "WORKERS", "CeleryStack", "StackError", "fresh_tag", "missing_requirements"]
