"""The aiosmtpd classes behind the emulated relay; imported only when a relay starts.

Kept apart from :mod:`.xmailer_smtp` so that importing the emulator never imports aiosmtpd.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, AnyStr

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Session


class QuietSession(Session):
    """aiosmtpd's session without the deprecation warning it logs on every AUTH (when it fills
    ``login_data``), which would reach the console of a CLI run through logging's last resort."""

    @property
    def login_data(self) -> Any:
        """The login of the last AUTH (aiosmtpd's legacy field)."""
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


class RelaySMTP(SMTP):
    """One SMTP connection of the relay, with the per-connection facts the handler needs.

    :param handler: the relay handler.
    :param process_id: the connection's "process id" (middle group of its Exim ids).
    :param auth_needs_starttls: refuse AUTH until STARTTLS (``starttls`` mode only).
    :param kwargs: aiosmtpd's ``SMTP`` settings.
    """

    def __init__(self, handler: Any, *, process_id: int, auth_needs_starttls: bool, **kwargs: Any):
        super().__init__(handler, auth_require_tls=True, **kwargs)
        # aiosmtpd only knows STARTTLS as TLS: behind implicit TLS (and in "none" mode) AUTH must
        # be accepted without it. Set after __init__, which would warn about the combination.
        self._auth_require_tls = auth_needs_starttls
        self.process_id = process_id
        self.rejecting_recipients = False  # a reject_rcpt fault hit the current transaction
        self.deferring_recipients = False  # a defer_rcpt fault hit the current transaction
        self.dropping_at_rcpt = False  # a rcpt_421_drop fault hit the current transaction
        self.refuses_auth: bool | None = None  # an auth_fail fault hit this connection
        self.defers_auth = False  # an auth_tempfail fault hit this connection
        self.mail_commands = 0  # MAIL commands on this connection
        self.too_many = False  # this connection answers every MAIL with 421 (Exim's per-connection limit)
        self._greeted = False
        self._held: list[bytes] = []
        #: loop time the last bytes arrived: an emulated round trip runs from there (see data_received)
        self.input_at = 0.0

    def _create_session(self) -> Session:
        return QuietSession(self.loop)

    def connection_made(self, transport: Any) -> None:
        """Send every reply as soon as it is written (no Nagle wait for the client's delayed ACK)."""
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        """Note when the client's bytes arrived, then read them as aiosmtpd does.

        The relay's one event loop serves every connection in turn; a round trip counted from when
        a handler gets to run would add the time other connections' commands took before it (the
        emulator's own CPU, queued) to every concurrent session's latency. Counted from the arrival,
        concurrent sessions each see the configured latency, as from a relay that serves its
        connections in parallel processes (Exim forks one per connection).
        """
        self.input_at = self.loop.time()
        super().data_received(data)

    async def push(self, status: AnyStr) -> None:
        """Write a multi-line reply (``250-…`` lines, then ``250 …``) in one segment, as Exim does.

        aiosmtpd writes each line on its own; with Nagle's algorithm the second segment then waits for
        the client's delayed ACK (~40 ms on Linux) on every EHLO. The greeting is held back by one
        round trip of the emulated latency (the connect).
        """
        encoding = "utf-8" if self.enable_SMTPUTF8 else "ascii"
        line = status.encode(encoding) if isinstance(status, str) else status
        if line[3:4] == b"-":
            self._held.append(line)
            return
        if not self._greeted:
            self._greeted = True
            await self._round_trip()
        held: list[bytes] = self._held
        self._held = []
        if held:
            line = b"\r\n".join([*held, line])
        await super().push(line)

    async def smtp_AUTH(self, arg: str) -> None:
        """AUTH, answered one emulated round trip later (a remote relay checks the password)."""
        await self._round_trip()
        await super().smtp_AUTH(arg)

    async def _round_trip(self) -> None:
        delay = self.event_handler.delay()
        if delay:
            await asyncio.sleep(delay)


class RelayController(Controller):
    """aiosmtpd's threaded controller serving on a socket bound beforehand (so port 0 works and
    the port is known before the thread starts).

    :param handler: the relay handler.
    :param listener: the bound, listening, non-blocking socket.
    :param new_process_id: gives each connection its process id.
    :param auth_needs_starttls: see :class:`RelaySMTP`.
    :param kwargs: the controller's and ``SMTP``'s settings.
    """

    def __init__(
        self,
        handler: Any,
        *,
        listener: socket.socket,
        new_process_id: Any,
        auth_needs_starttls: bool,
        **kwargs: Any,
    ):
        super().__init__(handler, **kwargs)
        self.listener = listener
        self.new_process_id = new_process_id
        self.auth_needs_starttls = auth_needs_starttls

    def factory(self) -> SMTP:
        """A new :class:`RelaySMTP` for an accepted connection."""
        return RelaySMTP(
            self.handler,
            process_id=self.new_process_id(),
            auth_needs_starttls=self.auth_needs_starttls,
            loop=self.loop,
            **self.SMTP_kwargs,
        )

    def _create_server(self) -> Any:
        server: Any = self.loop.create_server(self._factory_invoker, sock=self.listener, ssl=self.ssl_context)
        return server
