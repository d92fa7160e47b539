"""Backoff arithmetic shared by the sync hooks and the async triggers (no sleeping in here)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    """How many times and how long to wait before repeating a request.

    Waits grow exponentially with "full jitter" (a random fraction of the exponential step), so many
    workers hitting the same outage do not retry in lock-step. A server's ``Retry-After`` wins when it
    is longer, capped at ``max_wait``.

    :param max_retries: retries after the first attempt (0 = try once).
    :param backoff: the first step in seconds; step *n* is ``backoff * 2**n``.
    :param max_wait: the longest single wait in seconds.
    """

    max_retries: int = 3
    backoff: float = 1.0
    max_wait: float = 60.0

    def delay(self, retry_number: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry_number`` (0-based).

        :param retry_number: how many retries were already made.
        :param retry_after: the server's ``Retry-After`` in seconds, if it sent one.
        """
        step = min(self.max_wait, self.backoff * (2**retry_number))
        wait = random.uniform(step / 2, step)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return min(wait, self.max_wait)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Read a ``Retry-After`` header: delta seconds or an HTTP date; ``None`` when absent or unreadable.

    :param value: the header value.
    :param now: the current time (for tests); defaults to now in UTC.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())
