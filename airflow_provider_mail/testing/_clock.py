"""The emulators' clock: wall-clock time plus a manual offset.

Everything time-driven in an emulator (a message's delivery attempts, hold expiry, the
timestamps it reports) is computed from this clock on demand, so a test can jump hours ahead
with :meth:`EmulatorClock.advance` instead of sleeping, and no background thread is needed.
"""

from __future__ import annotations

import threading
import time


class EmulatorClock:
    """Real time (``time.time()``) shifted by an offset that :meth:`advance` only grows.

    :meth:`set_time` jumps to an absolute time instead and :meth:`reset` drops the offset.

    Thread-safe: request threads read it while a test thread advances it.
    """

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Return the emulated Unix epoch time in seconds."""
        with self._lock:
            return time.time() + self._offset

    @property
    def offset(self) -> float:
        """Seconds the clock has been moved ahead of real time."""
        with self._lock:
            return self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock forward and return the new emulated time.

        :param seconds: how far to jump; must not be negative (time never runs backwards, or
            already recorded delivery attempts would lie in the future).
        :raises ValueError: if ``seconds`` is negative.
        """
        if seconds < 0:
            raise ValueError(f"cannot advance the clock by a negative amount ({seconds!r} s)")
        with self._lock:
            self._offset += float(seconds)
            return time.time() + self._offset

    def set_time(self, epoch: float) -> float:
        """Jump to an absolute time (forwards or backwards); the clock keeps running from there.

        Unlike :meth:`advance` this may move the clock back, e.g. to replay a day in 2018 when
        Brazil still observed DST. Do it before anything is recorded: what the emulator already
        holds keeps its timestamps, which may then lie in the emulated future.

        :param epoch: the emulated Unix time to show now.
        :returns: the new emulated time.
        """
        with self._lock:
            self._offset = float(epoch) - time.time()
            return time.time() + self._offset

    def reset(self) -> None:
        """Drop the offset: the clock shows real time again."""
        with self._lock:
            self._offset = 0.0
