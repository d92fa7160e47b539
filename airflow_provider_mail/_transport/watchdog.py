"""One daemon thread that aborts sync calls past their deadline.

requests applies its timeout to each socket read, so a server that drips one byte every half second
keeps a call alive forever. The sync driver arms an alarm per call; when it fires, the call's socket
is shut down and the blocked read returns at once. One thread and a heap serve every call, so an
alarm costs a heap push, not a thread.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import math
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: The longest single wait of the thread: a longer (or infinite) delay is waited in steps, so no
#: caller's delay can overflow ``Condition.wait`` (``OverflowError: timestamp too large``).
MAX_WAIT = 60.0


class Alarm:
    """A pending action; :meth:`cancel` it when the call ended in time.

    :param at: the monotonic time it fires.
    :param action: what to do then.
    """

    def __init__(self, at: float, action: Callable[[], None]) -> None:
        self.at = at
        self._action = action
        self.cancelled = False
        self.fired = False

    def cancel(self) -> None:
        """Do not fire."""
        self.cancelled = True

    def fire(self) -> None:
        """Run the action unless cancelled."""
        if not self.cancelled:
            self.fired = True
            self._action()


class Watchdog:
    """Fires alarms from one background thread (started on first use).

    The thread is shared by every call of the process, so no caller's input may stop it: delays are
    checked in the caller's thread, waits are bounded, an action that raises is logged, and a thread
    that died anyway is started again by the next :meth:`arm`.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Alarm]] = []
        self._order = itertools.count()
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None

    def arm(self, delay: float, action: Callable[[], None]) -> Alarm:
        """Fire ``action`` in ``delay`` seconds unless the returned alarm is cancelled first.

        :param delay: seconds from now (``inf``: never, unless cancelled).
        :param action: what to do.
        :raises ValueError: for a delay that is not a number >= 0 (in the caller, never in the thread).
        """
        delay = float(delay)
        if math.isnan(delay) or delay < 0:
            raise ValueError(f"an alarm's delay must be a number >= 0, got {delay!r}")
        alarm = Alarm(time.monotonic() + delay, action)
        with self._condition:
            heapq.heappush(self._heap, (alarm.at, next(self._order), alarm))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="mail-provider-watchdog", daemon=True)
                self._thread.start()
            self._condition.notify()
        return alarm

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._heap:
                    self._condition.wait()
                at, _, alarm = self._heap[0]
                if alarm.cancelled:
                    heapq.heappop(self._heap)
                    continue
                delay = at - time.monotonic()
                if delay > 0:
                    self._condition.wait(min(delay, MAX_WAIT))
                    continue
                heapq.heappop(self._heap)
            try:
                alarm.fire()
            except Exception:  # one call's failing action must not end every later call's deadline
                log.exception("a watchdog alarm failed")


WATCHDOG = Watchdog()
_CURRENT = threading.local()


class CallGuard:
    """The connection a sync call is using, so its alarm can shut the socket down.

    The driver's connection classes register themselves here when they send a request (in the
    calling thread), see :func:`register_connection`.
    """

    def __init__(self) -> None:
        self.connection: Any = None
        self.aborted = False
        self._lock = threading.Lock()
        self._settled = False

    def __enter__(self) -> CallGuard:
        _CURRENT.guard = self
        with self._lock:
            self._settled = False  # (re-entered for each chunk of a stream)
        return self

    def __exit__(self, *exc_info: object) -> None:
        _CURRENT.guard = None
        self.settle()

    def settle(self) -> None:
        """The call is over: from here its connection may go back to the pool, and a late alarm
        must not touch it."""
        with self._lock:
            self._settled = True

    def abort(self) -> None:
        """Shut the call's socket down (from the watchdog thread), unless the call already ended."""
        with self._lock:
            if self._settled:
                return
            self.aborted = True
            self._shutdown()

    def _shutdown(self) -> None:
        sock = getattr(self.connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed: nothing to abort
                sock.shutdown(socket.SHUT_RDWR)


def register_connection(connection: Any) -> None:
    """Called by a connection as it starts writing a request: it belongs to the current thread's call.

    Until then the call provably wrote nothing (a failure in the TCP or TLS handshake).

    :param connection: the urllib3 connection.
    """
    guard = getattr(_CURRENT, "guard", None)
    if guard is not None:
        guard.connection = connection
