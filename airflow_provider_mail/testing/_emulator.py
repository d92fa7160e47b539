"""What every emulator offers around its HTTP server and clock: lifecycle, faults, request log, time."""

from __future__ import annotations

from types import TracebackType
from typing import Any, TypeVar

from ._clock import EmulatorClock
from ._faults import Fault
from ._network import NetworkSettings
from ._server import EmulatorServer, RequestRecord

_E = TypeVar("_E", bound="EmulatorBase")


class EmulatorBase:
    """Base of the service emulators: subclasses set ``_http`` and ``_clock`` in ``__init__``."""

    _http: EmulatorServer
    _clock: EmulatorClock

    def start(self: _E) -> _E:
        """Start serving in a background thread (idempotent); returns ``self``."""
        self._http.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        self._http.stop()

    def __enter__(self: _E) -> _E:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` of the HTTP endpoint (admin routes under ``/_emulator/``)."""
        return self._http.base_url

    def inject(self, fault: Fault | str, count: int = 1, **options: Any) -> None:
        """Make the next ``count`` service requests meet ``fault`` (admin requests are exempt).

        :param fault: a :class:`Fault` or its name.
        :param count: how many consecutive requests it hits.
        :param options: ``retry_after`` (HTTP_429), ``delay`` (SLOW), ``location`` (redirects),
            ``details`` (INVALID_JSON).
        """
        self._http.inject(fault, count, **options)

    def set_network(self, **changes: float | int | None) -> NetworkSettings:
        """Change the standing latency and rate limit of the HTTP endpoint while it runs.

        Example: ``emu.set_network(latency=0.05, latency_jitter=0.01, rate_limit=20)``;
        ``rate_limit=None`` turns the limit off. Admin requests are never delayed or limited.

        :param changes: any of ``latency`` and ``latency_jitter`` (seconds), ``rate_limit``
            (requests per second) and ``rate_limit_burst`` (bucket size).
        :returns: the settings now in force.
        :raises ValueError: for an unknown setting or a bad value.
        """
        return self._http.network.configure(dict(changes))

    @property
    def network(self) -> NetworkSettings:
        """The latency and rate limit in force (see :meth:`set_network`)."""
        return self._http.network.settings

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the request log (service requests only, never a secret), oldest first."""
        return self._http.requests()

    def advance(self, seconds: float) -> float:
        """Move the emulator clock forward; due events happen on the next look.

        :param seconds: how far to jump (not negative).
        :returns: the new emulator time (epoch seconds).
        """
        return self._clock.advance(seconds)

    def set_time(self, epoch: float) -> float:
        """Jump the emulator clock to an absolute time (e.g. a 2018 DST change); it runs on from
        there. Do it before sending: messages already stored keep their times.

        :param epoch: the emulated Unix time.
        :returns: the new emulator time.
        """
        return self._clock.set_time(epoch)

    def now(self) -> float:
        """The emulator clock's current time (epoch seconds)."""
        return self._clock.now()
