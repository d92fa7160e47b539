"""Network conditions in front of an emulated service: round-trip latency and a rate limit.

Unlike a fault (:mod:`._faults`), which hits the next N requests, these are standing settings
that apply to every service request until changed (admin requests are exempt):

* **latency** — each request is answered ``latency`` seconds late, plus or minus a uniform
  ``latency_jitter``. The wait happens on the request's own connection thread, so concurrent
  requests are delayed side by side, never one after the other;
* **rate limit** — a token bucket of ``rate_limit_burst`` tokens refilled at ``rate_limit``
  tokens per second, as a front proxy's ``limit_req`` does. A request that finds the bucket
  empty gets HTTP 429 with an integer ``Retry-After`` and never reaches the service.

The bucket refills by the emulator clock, so a test can refill it with ``advance()`` instead of
sleeping, and a request refused at a given emulator time is refused deterministically.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import asdict, dataclass
from typing import Any

_SETTINGS = ("latency", "latency_jitter", "rate_limit", "rate_limit_burst")


@dataclass(frozen=True)
class NetworkSettings:
    """The standing network conditions.

    :param latency: seconds added to every answer (``0`` = none).
    :param latency_jitter: half-width of the uniform spread around ``latency``; a delay is
        never negative.
    :param rate_limit: requests per second the bucket refills with; ``None`` = no limit.
    :param rate_limit_burst: the bucket's size (requests accepted back to back after a quiet
        spell); default ``max(1, floor(rate_limit))``.
    """

    latency: float = 0.0
    latency_jitter: float = 0.0
    rate_limit: float | None = None
    rate_limit_burst: int | None = None

    def __post_init__(self) -> None:
        if self.latency < 0 or self.latency_jitter < 0:
            raise ValueError("latency and latency_jitter must not be negative")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError("rate_limit must be positive (None turns the limit off)")
        if self.rate_limit_burst is not None and self.rate_limit_burst < 1:
            raise ValueError("rate_limit_burst must be at least 1")

    @property
    def burst(self) -> int:
        """The bucket size in force (``0`` when there is no limit)."""
        if self.rate_limit is None:
            return 0
        return self.rate_limit_burst or max(1, math.floor(self.rate_limit))

    def as_dict(self) -> dict[str, Any]:
        """The settings as a JSON-compatible dict."""
        return asdict(self)


def parse_settings(base: NetworkSettings, changes: dict[str, Any]) -> NetworkSettings:
    """Apply a partial update (admin JSON, keyword arguments) to ``base``.

    :param base: the current settings.
    :param changes: any of ``latency``, ``latency_jitter``, ``rate_limit`` (``null`` = off) and
        ``rate_limit_burst`` (``null`` = the default).
    :raises ValueError: for an unknown name or a bad value.
    """
    unknown = set(changes) - set(_SETTINGS)
    if unknown:
        raise ValueError(f"unknown network setting(s) {sorted(unknown)}; known: {', '.join(_SETTINGS)}")
    values = base.as_dict()
    for name, value in changes.items():
        if value is None:
            if name in ("latency", "latency_jitter"):
                raise ValueError(f"{name} must be a number")
            values[name] = None
        elif name == "rate_limit_burst":
            values[name] = int(value)
        else:
            values[name] = float(value)
    return NetworkSettings(**values)


class NetworkConditions:
    """The latency and token bucket of one server; thread-safe.

    :param settings: the initial settings.
    """

    def __init__(self, settings: NetworkSettings | None = None):
        self._lock = threading.Lock()
        self._settings = settings or NetworkSettings()
        self._tokens = float(self._settings.burst)
        self._refilled_at: float | None = None

    @property
    def settings(self) -> NetworkSettings:
        """The settings in force."""
        with self._lock:
            return self._settings

    def configure(self, changes: dict[str, Any]) -> NetworkSettings:
        """Change some settings; a changed rate limit starts with a full bucket.

        :param changes: see :func:`parse_settings`.
        :returns: the new settings.
        """
        with self._lock:
            new = parse_settings(self._settings, changes)
            if (new.rate_limit, new.burst) != (self._settings.rate_limit, self._settings.burst):
                self._tokens = float(new.burst)
                self._refilled_at = None
            self._settings = new
            return new

    def refill(self) -> None:
        """Fill the bucket (an emulator reset)."""
        with self._lock:
            self._tokens = float(self._settings.burst)
            self._refilled_at = None

    def delay(self) -> float:
        """Draw the delay for one request (``0`` without latency)."""
        settings = self.settings
        if not settings.latency and not settings.latency_jitter:
            return 0.0
        spread = settings.latency_jitter
        return max(0.0, settings.latency + random.uniform(-spread, spread))

    def admit(self, now: float) -> int | None:
        """Take a token for a request arriving at emulator time ``now``.

        :param now: the emulator clock's time.
        :returns: ``None`` if the request may pass, else the ``Retry-After`` seconds: when the
            next token will be there, rounded up, at least 1.
        """
        with self._lock:
            rate = self._settings.rate_limit
            if rate is None:
                return None
            if self._refilled_at is not None:
                # max(): set_time() may move the clock back; the bucket never drains by it.
                elapsed = max(0.0, now - self._refilled_at)
                self._tokens = min(float(self._settings.burst), self._tokens + elapsed * rate)
            self._refilled_at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return None
            return max(1, math.ceil((1.0 - self._tokens) / rate))
