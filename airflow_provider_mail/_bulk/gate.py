"""The pace of a bulk send: one shared "not before" time and an optional messages-per-second rate.

Every sender takes a turn (:meth:`SendGate.turn`) around each request. When the service pushes back
(HTTP 429 with ``Retry-After``, or any other answer the hook waits out before retrying), the waiting
hook calls :meth:`SendGate.sleep_after_failure`, which moves the shared "not before" time: every
other sender then waits too, instead of each finding the limit for itself with its own 429.

**What** ``rate_limit`` **promises: at most that many requests reach the service in any one second.**
Spacing the starts of requests ``1 / rate`` apart is not enough: the time between a sender being let
through and its bytes reaching the service varies (a first request opens its connection, a busy
machine delays a thread), so requests let through evenly can arrive bunched. So a rate of ``k`` per
second is also ``k`` *permits*: a request holds one from the moment it is let through until one
second after its answer came back. Any ``k + 1`` requests that reached the service within one second
would have held ``k + 1`` permits at the moment the last one was let through, so they cannot have.
The cost is throughput: a permit serves one request per ``1 s + round trip``, so a batch sends at
``rate / (1 + round trip in seconds)`` at most (e.g. 0.95 times the rate at 50 ms).

**Across workers** (:func:`rate_share`): ``rate_limit`` is for the whole task. A mapped task's
instances run on any workers with no channel between them, so each instance paces itself to an even
share of the rate (``rate_limit`` // instances, the remainder going to the first instances); the
shares add up to the rate, so the promise holds for the whole task, wherever its instances run.
Below one message per second per instance (``rate_limit`` < instances) each instance still averages
its share, but the instances' requests can meet in one second: up to one per instance.
"""

from __future__ import annotations

import contextlib
import heapq
import math
import threading
import time
from collections.abc import Callable, Iterator

#: The window ``rate_limit`` is counted in (seconds).
WINDOW = 1.0
#: Longest single wait for a permit held by a request in flight (it is handed back sooner on an answer).
_IN_FLIGHT_POLL = 0.5


def rate_share(rate_limit: float | None, index: int, instances: int) -> float | None:
    """One instance's share of a task's ``rate_limit`` when ``instances`` instances send at once.

    :param rate_limit: messages per second for the whole task (``None``: no limit).
    :param index: this instance's position, ``0 <= index < instances`` (its map index).
    :param instances: how many instances share the rate (the mapped task's length).
    :returns: messages per second for this instance; whole numbers when the rate is one and at
        least ``instances``, so that the shares add up to exactly ``floor(rate_limit)``.
    """
    if rate_limit is None or instances <= 1:
        return rate_limit
    whole = math.floor(rate_limit)
    if whole < instances:
        return rate_limit / instances
    return float(whole // instances + (1 if index % instances < whole % instances else 0))


class SendGate:
    """Thread-safe pacing shared by every sender of one batch.

    :param rate_limit: messages (requests) per second across all senders; ``None`` = no limit.
    :param clock: a monotonic clock in seconds (tests pass a fake one).
    :param sleep: how to wait (tests pass a fake one).
    """

    def __init__(
        self,
        rate_limit: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_limit is not None and rate_limit <= 0:
            from airflow_provider_mail.exceptions import MailConfigurationError

            raise MailConfigurationError(f"rate_limit must be > 0 messages per second, got {rate_limit}")
        self.rate_limit = rate_limit
        self.interval = 1.0 / rate_limit if rate_limit else 0.0
        #: permits (see the module docstring) and how long after an answer one is free again:
        #: ``k`` per second, or one per ``1 / rate`` seconds below one message per second.
        self.permits = max(1, math.floor(rate_limit)) if rate_limit else 0
        self.release_after = max(WINDOW, self.permits / rate_limit) if rate_limit else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Condition()
        self._not_before = 0.0
        self._next_slot = 0.0
        self._free_at = [0.0] * self.permits  # a heap: when each permit not in flight is free
        self._mine = threading.local()  # whether this thread holds a permit
        #: How many times the service made the batch wait, and for how long in total (for the report).
        self.holds = 0
        self.held_seconds = 0.0

    def hold(self, seconds: float) -> None:
        """Nobody sends for ``seconds`` from now (a 429's ``Retry-After``, or a retry's backoff).

        :param seconds: how long to hold every sender.
        """
        with self._lock:
            until = self._clock() + max(0.0, seconds)
            if until > self._not_before:
                self.held_seconds += until - max(self._not_before, self._clock())
                self._not_before = until
            self.holds += 1

    def wait_turn(self) -> None:
        """Block until this sender may send: after the shared hold, with a permit, in its rate slot.

        A thread that still holds a permit (its previous request is over: it is about to retry)
        hands it back first. Pair with :meth:`turn_done` (or use :meth:`turn`).
        """
        self._hand_back()
        while True:
            with self._lock:
                now = self._clock()
                wait: float | None
                if now < self._not_before:
                    wait = self._not_before - now
                elif self.permits and not self._free_at:
                    wait = None  # every permit is in flight: wait for an answer
                elif self.permits and self._free_at[0] > now:
                    wait = self._free_at[0] - now
                elif self.interval and now < self._next_slot:
                    wait = self._next_slot - now
                else:
                    if self.permits:
                        heapq.heappop(self._free_at)
                        self._mine.held = True
                    self._next_slot = max(now, self._next_slot) + self.interval
                    return
                if wait is None:
                    self._lock.wait(_IN_FLIGHT_POLL)
                    continue
            self._sleep(wait)

    def turn_done(self) -> None:
        """This thread's request has its answer (or failed): its permit is free one second from now."""
        self._hand_back()

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Wait for a turn, send in the ``with`` block; the permit runs out one second after it."""
        self.wait_turn()
        try:
            yield
        finally:
            self.turn_done()

    def sleep_after_failure(self, seconds: float) -> None:
        """What a hook calls instead of ``time.sleep`` between attempts: hold everyone, then queue.

        :param seconds: the wait the hook's retry policy chose (``Retry-After`` included).
        """
        self._hand_back()
        self.hold(seconds)
        self.wait_turn()

    def _hand_back(self) -> None:
        if not getattr(self._mine, "held", False):
            return
        self._mine.held = False
        with self._lock:
            heapq.heappush(self._free_at, self._clock() + self.release_after)
            self._lock.notify_all()
