"""Progress lines of a bulk send in the task log: done/total, rate, ETA and failures so far."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

#: Seconds between two progress lines by default: frequent enough to watch, rare enough to read.
DEFAULT_PROGRESS_INTERVAL = 10.0


class Progress:
    """Counts row outcomes and logs a line at most every ``interval`` seconds, plus a final one.

    :param total: how many rows there are (``None`` when unknown: no ETA).
    :param log: the task's logger (anything with ``info``).
    :param interval: seconds between lines.
    :param clock: a monotonic clock (tests pass a fake one).
    """

    def __init__(
        self,
        total: int | None,
        log: Any,
        *,
        interval: float = DEFAULT_PROGRESS_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.log = log
        self.interval = interval
        self._clock = clock
        self.started = clock()
        self._last_line = self.started
        self.counts: Counter[str] = Counter()
        self.lines = 0

    @property
    def done(self) -> int:
        """Rows with an outcome so far."""
        return sum(self.counts.values())

    def record(self, status: str) -> None:
        """Count one row's outcome; log a line when the interval has passed.

        :param status: ``"accepted"``, ``"sent_earlier"``, ``"failed"`` or ``"unknown"``.
        """
        self.counts[status] += 1
        if self._clock() - self._last_line >= self.interval:
            self.report()

    def report(self, *, final: bool = False) -> str:
        """Log (and return) the progress line now.

        :param final: the last line of the batch.
        """
        now = self._clock()
        self._last_line = now
        self.lines += 1
        elapsed = max(now - self.started, 1e-9)
        done = self.done
        sent = self.counts["accepted"] + self.counts["failed"] + self.counts["unknown"]
        rate = sent / elapsed
        total = "?" if self.total is None else str(self.total)
        percent = f" ({100 * done / self.total:.0f}%)" if self.total else ""
        if final:
            eta = f"finished in {elapsed:.1f} s"
        elif self.total is not None and rate > 0:
            eta = f"ETA {max(0, self.total - done) / rate:.0f} s"
        else:
            eta = "ETA unknown"
        line = (
            f"bulk send: {done}/{total} rows{percent}; accepted {self.counts['accepted']}, "
            f"sent by an earlier try {self.counts['sent_earlier']}, failed {self.counts['failed']}, "
            f"unknown {self.counts['unknown']}; {rate:.1f} msg/s; {eta}"
        )
        self.log.info("%s", line)
        return line
