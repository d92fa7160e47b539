"""Fixtures of the real-services tests: one Airflow stack and one emulator per service, shared by
every test of this package.

The emulators run in this test process and outlive the stack (fixture order: they are set up
first, torn down last); the services reach them through ``AIRFLOW_CONN_*`` variables. Tests share
the stack and tell their work apart by DAG id, run id and unique recipients.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mail.testing import Fault, Sender25Emulator, XmailerEmulator
from tests.conftest import REPO_ROOT
from tests.real_services.harness import AirflowStack, StackError, wait_for

DAGS = Path(__file__).resolve().parent / "dags"
#: How long an emulator holds the answer to a send in the in-flight and timeout scenarios:
#: far longer than the test needs to kill the task (or than the 4 s execution_timeout), and
#: shorter than the hook's 30 s read timeout, so only the kill or the timeout ends try 1.
HOLD_SECONDS = 15.0
_STATS: dict[str, Any] = {}


def ledger_present() -> bool:
    """Whether the send ledger has landed (the operators take ``on_unknown_outcome``); the DAG file
    decides the same way whether to create the ``_resend`` DAGs."""
    from airflow_provider_mail.operators.sender25 import Sender25SendEmailOperator
    from tests.real_services.dags.rs_send_scenarios import supports_unknown_outcome

    return supports_unknown_outcome(Sender25SendEmailOperator)


class SmtpAnswerHold:
    """Make the xmailer emulator's relay queue the next message, then wait before answering DATA.

    The emulator has no "slow answer" SMTP fault (its HTTP side has ``Fault.SLOW``), so this wraps
    the relay handler's ``handle_DATA`` on this emulator object; aiosmtpd looks the hook up on
    every new connection.
    """

    def __init__(self, emulator: XmailerEmulator) -> None:
        handler = emulator._relay_handler  # test-only: no public hook for this (see the report)
        original = handler.handle_DATA
        self._pending: list[float] = []
        self._lock = threading.Lock()

        async def handle_data(server: Any, session: Any, envelope: Any) -> str:
            reply = await original(server, session, envelope)
            with self._lock:
                delay = self._pending.pop(0) if self._pending else 0.0
            if delay:
                await asyncio.sleep(delay)
            return reply

        handler.handle_DATA = handle_data

    def push(self, delay: float) -> None:
        """Hold the answer to the next DATA for ``delay`` seconds (the message is queued first)."""
        with self._lock:
            self._pending.append(delay)

    def clear(self) -> None:
        """Forget pending holds."""
        with self._lock:
            self._pending.clear()


@dataclass
class Mailbox:
    """One service's emulator, seen the way the tests need it."""

    name: str
    emulator: Any
    smtp_hold: SmtpAnswerHold | None = None

    def hold_next_send(self, seconds: float = HOLD_SECONDS) -> None:
        """The next send is stored, and its answer held back ``seconds``."""
        if self.smtp_hold is not None:
            self.smtp_hold.push(seconds)
        else:
            self.emulator.inject(Fault.SLOW, delay=seconds)

    def reset(self) -> None:
        """Drop pending faults and holds."""
        if self.smtp_hold is not None:
            self.smtp_hold.clear()
        self.emulator.reset()

    def stored_ids(self, recipient: str) -> list[Any]:
        """The ids the service gave the messages stored for ``recipient``, oldest first."""
        if self.name == "sender25":
            return [m.id for m in self.emulator.messages() if m.rcpt_to == recipient]
        return [m.queue_id for m in self.emulator.messages if recipient in m.rcpt_tos]

    def xcom_ids(self, xcom: dict[str, Any], recipient: str) -> Any:
        """The id the operator's XCom reports for ``recipient``."""
        if self.name == "sender25":
            return xcom["messages"][recipient]["id"]
        assert recipient in xcom["accepted"], xcom
        return xcom["queue_id"]


@pytest.fixture(scope="package")
def sender25_service() -> Iterator[Sender25Emulator]:
    with Sender25Emulator() as emulator:
        yield emulator


@pytest.fixture(scope="package")
def xmailer_service() -> Iterator[tuple[XmailerEmulator, SmtpAnswerHold]]:
    with XmailerEmulator() as emulator:
        yield emulator, SmtpAnswerHold(emulator)


@pytest.fixture(scope="package")
def stack(
    sender25_service: Sender25Emulator,
    xmailer_service: tuple[XmailerEmulator, SmtpAnswerHold],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[AirflowStack]:
    """The running Airflow stack: started by the first test of this package, stopped after its last
    (package scope, so the rest of the suite does not run beside an idle scheduler)."""
    # A fixed home (empty or new) keeps the logs for a look after the session.
    chosen = os.environ.get("MAIL_PROVIDER_REAL_SERVICES_HOME")
    home = Path(chosen) if chosen else tmp_path_factory.mktemp("af-real-home")
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "AIRFLOW_CONN_SENDER25_DEFAULT": sender25_service.airflow_connection(),
        "AIRFLOW_CONN_XMAILER_DEFAULT": xmailer_service[0].airflow_connection(),
        "RS_MARKER_DIR": str(home / "markers"),
    }
    with AirflowStack(home, DAGS, env=env, pythonpath=[REPO_ROOT]) as running:
        _STATS["start_seconds"] = running.timings.healthy
        _STATS["migrate_seconds"] = running.timings.migrate
        yield running
        stopping = time.monotonic()
    _STATS["stop_seconds"] = time.monotonic() - stopping


@pytest.fixture(params=["sender25", "xmailer"])
def mailbox(
    request: pytest.FixtureRequest,
    sender25_service: Sender25Emulator,
    xmailer_service: tuple[XmailerEmulator, SmtpAnswerHold],
) -> Iterator[Mailbox]:
    """Each service in turn, its faults cleared before and after the test."""
    if request.param == "sender25":
        box = Mailbox("sender25", sender25_service)
    else:
        box = Mailbox("xmailer", xmailer_service[0], xmailer_service[1])
    box.reset()
    yield box
    box.reset()


@dataclass
class Run:
    """One DAG run started by a test."""

    stack: AirflowStack
    dag_id: str
    run_id: str
    recipients: list[str]
    task_id: str = "send"
    killed: list[int] = field(default_factory=list)

    @property
    def markers(self) -> Path:
        return Path(self.stack.env["RS_MARKER_DIR"]) / self.dag_id / self.run_id

    def wait_marker(self, name: str, timeout: float = 90) -> int:
        """Wait for ``try<N>.<event>`` (e.g. ``try1.sent``); return the pid it holds."""
        path = self.markers / name
        probe = lambda: path.exists() and int(path.read_text())  # noqa: E731
        state = lambda: f"(task: {self.stack.task_state(self.dag_id, self.run_id, self.task_id)})"  # noqa: E731
        return wait_for(f"marker {name} of {self.dag_id}/{self.run_id}", probe, timeout, 0.1, state)

    def kill(self, pid: int) -> None:
        """SIGKILL the task process ``pid`` (a process of this run, from its marker)."""
        os.kill(pid, signal.SIGKILL)
        self.killed.append(pid)

    def wait(self, timeout: float = 120) -> str:
        return self.stack.wait_run(self.dag_id, self.run_id, timeout)

    def log(self, try_number: int) -> str:
        return self.stack.task_log(self.dag_id, self.run_id, self.task_id, try_number)

    def cleanup(self) -> None:
        """SIGKILL any task process of this run still alive (a test that failed midway)."""
        for marker in self.markers.glob("try*.*") if self.markers.exists() else ():
            with contextlib.suppress(ValueError, OSError):
                pid = int(marker.read_text())
                if b"airflow" in Path(f"/proc/{pid}/cmdline").read_bytes() or _is_python(pid):
                    os.kill(pid, signal.SIGKILL)


def _is_python(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return "python" in os.readlink(f"/proc/{pid}/exe")
    return False


@pytest.fixture
def start_run(stack: AirflowStack) -> Iterator[Any]:
    """Start ``rs_<service>_<scenario>`` to fresh recipients; kill leftovers at teardown."""
    runs: list[Run] = []

    def start(service: str, scenario: str) -> Run:
        tag = uuid.uuid4().hex[:8]
        recipients = [f"ana-{tag}@example.org", f"bo-{tag}@example.org"]
        dag_id = f"rs_{service}_{scenario}"
        run_id = stack.trigger(dag_id, {"to": ", ".join(recipients)})
        run = Run(stack, dag_id, run_id, recipients)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.cleanup()


@pytest.fixture(autouse=True)
def _measure_each_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """Per-test wall time, and the stack's peak memory (PSS) sampled at each test's end."""
    began = time.monotonic()
    yield
    _STATS.setdefault("per_test", {})[request.node.name] = time.monotonic() - began
    running = request.node.funcargs.get("stack")
    if isinstance(running, AirflowStack):
        _STATS["pss_mib"] = max(_STATS.get("pss_mib", 0.0), running.memory_bytes() / 2**20)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _STATS.get("per_test"):
        return
    write = terminalreporter.write_line
    write(
        "real services: db migrate {:.1f}s, services healthy {:.1f}s after start, stop {:.1f}s, "
        "peak PSS sampled at test ends {:.0f} MiB".format(
            _STATS.get("migrate_seconds", 0),
            _STATS.get("start_seconds", 0),
            _STATS.get("stop_seconds", 0),
            _STATS.get("pss_mib", 0),
        )
    )
    for name, seconds in _STATS["per_test"].items():
        write(f"real services: {seconds:6.1f}s {name}")


__all__ = ["HOLD_SECONDS", "Mailbox", "Run", "StackError", "ledger_present"]
