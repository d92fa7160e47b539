"""The pace of a bulk send: one shared "not before" time and an optional messages-per-second rate.

Every sender asks :meth:`SendGate.wait_turn` before each request. When the service pushes back
(HTTP 429 with ``Retry-After``, or any other answer the hook waits out before retrying), the waiting
hook calls :meth:`SendGate.hold`, which moves the shared "not before" time: every other sender then
waits too, instead of each finding the limit for itself with its own 429.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


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
        self.interval = 1.0 / rate_limit if rate_limit else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._not_before = 0.0
        self._next_slot = 0.0
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
        """Block until this sender may send: after the shared hold, and in its own rate slot."""
        while True:
            reserved = False
            with self._lock:
                now = self._clock()
                if now < self._not_before:
                    wait = self._not_before - now
                elif self.interval and now < self._next_slot:
                    # take the next slot now, so that senders queue up in order instead of racing
                    wait = self._next_slot - now
                    self._next_slot += self.interval
                    reserved = True
                else:
                    self._next_slot = max(now, self._next_slot) + self.interval
                    return
            self._sleep(wait)
            if reserved:
                with self._lock:
                    if self._clock() >= self._not_before:
                        return
                # held while waiting for the slot: queue again behind the hold

    def sleep_after_failure(self, seconds: float) -> None:
        """What a hook calls instead of ``time.sleep`` between attempts: hold everyone, then queue.

        :param seconds: the wait the hook's retry policy chose (``Retry-After`` included).
        """
        self.hold(seconds)
        self.wait_turn()
