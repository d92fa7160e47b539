"""The emulated xmailer relay's SMTP side: a real SMTP server (aiosmtpd) on a loopback port.

It behaves like the dedicated Exim relay a customer submits to:

* ``starttls`` (port-587 style): STARTTLS offered; AUTH advertised and accepted only after it
  (before it, AUTH gets aiosmtpd's ``538 5.7.11 Encryption required``);
* ``implicit`` (port-465 style): TLS from the first byte;
* ``none``: plain text, AUTH allowed anyway (tests only);
* AUTH PLAIN / LOGIN against one user and password (``535 5.7.8`` when wrong); MAIL, RCPT and
  DATA need it (``530 5.7.0 Authentication required``);
* one queue id per DATA for all recipients, announced as the style says
  (:mod:`.xmailer_ids`); ``250 Accepted`` per recipient, like Exim.

SMTP faults (:data:`SMTP_FAULTS`) hit the next N transactions, each at the stage it concerns;
``auth_fail`` counts connections, since a client tries every mechanism before it gives up.
aiosmtpd (:mod:`.xmailer_smtpd`) is imported when the relay starts, so importing the package
stays cheap.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .ids import end_of_data_reply
from .store import XmailerBackend

if TYPE_CHECKING:
    from .smtpd import RelayController

SMTP_TLS_MODES = ("starttls", "implicit", "none")
SMTP_FAULTS = {
    "drop_before_data": "close the connection at the first RCPT, before DATA: nothing is queued",
    "drop_after_data": "read the DATA, queue the message, close the connection without a reply",
    "tempfail_data": "451 at the end of DATA; the message is not queued",
    "reject_rcpt": "550 for every RCPT of the transaction",
    "defer_rcpt": "451 for every RCPT of the transaction (an Exim defer ACL, greylisting): nothing queued",
    "rcpt_421_drop": (
        "421 at the second RCPT of the transaction (the first was accepted), then the relay hangs up "
        "(an Exim ACL drop on a recipient rate limit): nothing queued"
    ),
    "too_many_messages": (
        "421 at the next MAIL and every later one of that connection, which stays open "
        "(Exim's smtp_accept_max_per_connection)"
    ),
    "auth_fail": "535 for every AUTH of a connection, even with the right credentials",
    "auth_tempfail": "454 for every AUTH of a connection (the relay cannot check passwords now)",
}
AUTH_TEMPFAIL_REPLY = "454 4.7.0 Temporary authentication failure"
#: Exim's words when a connection has carried ``smtp_accept_max_per_connection`` messages (smtp_in.c).
TOO_MANY_MESSAGES_REPLY = "421 too many messages in this connection"
DEFER_RCPT_REPLY = "451 4.3.0 <{address}>: Temporary local problem - please try later"
DROP_RCPT_REPLY = "421 4.7.0 smtp.xmailer.test Sending rate too high - closing connection"
#: Exim's ``verify = recipient`` / ``verify = sender`` for a domain that cannot be routed; the reserved
#: ``.invalid`` TLD (RFC 2606) stands for one.
UNROUTEABLE_RCPT_REPLY = "550 Unrouteable address"
SENDER_VERIFY_REPLY = "550 Sender verify failed"
MAX_MESSAGE_BYTES = 50 * 1024 * 1024  # the service's documented per-message limit
TEMPFAIL_DATA_REPLY = "451 4.3.0 Temporary local problem - please try later"
_RELAY_HOSTNAME = "smtp.xmailer.test"
_IDENTS = {"postfix": "ESMTP Postfix", "exim497": "ESMTP Exim 4.97"}
_DEFAULT_IDENT = "ESMTP Exim 4.96"


def check_smtp_tls(mode: str) -> str:
    """Return ``mode`` if it is a known TLS mode.

    :param mode: ``starttls``, ``implicit`` or ``none``.
    :raises ValueError: naming the known modes otherwise.
    """
    if mode not in SMTP_TLS_MODES:
        raise ValueError(f"unknown smtp_tls {mode!r}; choose one of {', '.join(SMTP_TLS_MODES)}")
    return mode


class SmtpFaults:
    """Counters of pending SMTP faults, one per fault name; thread-safe."""

    def __init__(self) -> None:
        self._remaining: dict[str, int] = {}
        self._lock = threading.Lock()

    def push(self, name: str, count: int = 1) -> None:
        """Make the next ``count`` transactions meet fault ``name``.

        :param name: one of :data:`SMTP_FAULTS`.
        :param count: how many transactions; at least 1.
        :raises ValueError: for an unknown name or a count below 1.
        """
        if name not in SMTP_FAULTS:
            raise ValueError(f"unknown SMTP fault {name!r}; known faults: {', '.join(SMTP_FAULTS)}")
        if int(count) < 1:
            raise ValueError(f"count must be at least 1, got {count!r}")
        with self._lock:
            self._remaining[name] = self._remaining.get(name, 0) + int(count)

    def take(self, name: str) -> bool:
        """Consume one application of fault ``name``; tell whether there was one.

        :param name: the fault name.
        """
        with self._lock:
            left = self._remaining.get(name, 0)
            if left <= 0:
                return False
            if left == 1:
                del self._remaining[name]
            else:
                self._remaining[name] = left - 1
            return True

    def pending(self) -> dict[str, int]:
        """The pending faults and their remaining counts."""
        with self._lock:
            return dict(self._remaining)

    def clear(self) -> None:
        """Drop every pending fault."""
        with self._lock:
            self._remaining.clear()


class RelayHandler:
    """The aiosmtpd handler: authentication, recipients, queueing.

    :param backend: where messages are queued.
    :param faults: the pending SMTP faults.
    :param username: the SMTP AUTH user.
    :param password: its password.
    :param delay: draws the injected latency of one round trip (seconds, ``0`` = none): it holds
        back the greeting (the connect), each AUTH answer and each end-of-DATA reply.
    :param max_messages_per_connection: like Exim's ``smtp_accept_max_per_connection``: MAIL commands
        beyond it get ``421 too many messages in this connection`` (``0`` = no limit).
    """

    def __init__(
        self,
        backend: XmailerBackend,
        faults: SmtpFaults,
        username: str,
        password: str,
        delay: Callable[[], float] | None = None,
        max_messages_per_connection: int = 0,
    ):
        self.backend = backend
        self.faults = faults
        self.username = username
        self.password = password
        self.delay = delay or (lambda: 0.0)
        self.max_messages_per_connection = int(max_messages_per_connection)

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        """aiosmtpd's ``authenticator`` callback for PLAIN and LOGIN."""
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if server.refuses_auth is None:  # decided once per connection, at its first AUTH
            server.refuses_auth = self.faults.take("auth_fail")
            server.defers_auth = self.faults.take("auth_tempfail")
        if server.defers_auth:
            return AuthResult(success=False, handled=False, message=AUTH_TEMPFAIL_REPLY)
        if server.refuses_auth or not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        if (login, password) != (self.username, self.password):
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=login)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        """Offer PIPELINING, as Exim does by default (``pipelining_advertise_hosts = *``)."""
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        """Start a transaction; decide whether its recipients are all refused or deferred."""
        server.mail_commands += 1
        limit = self.max_messages_per_connection
        over_limit = bool(limit) and server.mail_commands > limit
        if server.too_many or over_limit or self.faults.take("too_many_messages"):
            # Exim answers and keeps the connection open; every later MAIL gets the same answer.
            server.too_many = True
            return TOO_MANY_MESSAGES_REPLY
        if _unrouteable(address):
            return SENDER_VERIFY_REPLY
        server.rejecting_recipients = self.faults.take("reject_rcpt")
        server.deferring_recipients = self.faults.take("defer_rcpt")
        server.dropping_at_rcpt = self.faults.take("rcpt_421_drop")
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        """Accept a recipient, unless a ``reject_rcpt`` fault hits this transaction."""
        if getattr(server, "rejecting_recipients", False):
            return f"550 5.1.1 <{address}>: Recipient address rejected"
        if getattr(server, "deferring_recipients", False):
            return DEFER_RCPT_REPLY.format(address=address)
        if _unrouteable(address):
            return UNROUTEABLE_RCPT_REPLY
        if getattr(server, "dropping_at_rcpt", False) and envelope.rcpt_tos:
            await server.push(DROP_RCPT_REPLY)
            raise asyncio.CancelledError  # aiosmtpd closes the transport, sending nothing more
        if self.faults.take("drop_before_data"):
            raise asyncio.CancelledError  # aiosmtpd closes the transport without a reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 Accepted"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Queue the message and answer with its queue id (or meet a DATA fault)."""
        delay = self.delay()
        if delay:
            # Awaited on the relay's event loop: other sessions go on meanwhile. Counted from when
            # the end of the data arrived (RelaySMTP.data_received), not from now: time spent
            # serving other connections first is part of the round trip, not added to it.
            arrived = getattr(server, "input_at", 0.0) or server.loop.time()
            await asyncio.sleep(max(0.0, arrived + delay - server.loop.time()))
        if self.faults.take("tempfail_data"):
            return TEMPFAIL_DATA_REPLY
        transport = server.transport
        message = self.backend.queue(
            mail_from=envelope.mail_from,
            rcpt_tos=envelope.rcpt_tos,
            data=envelope.original_content or b"",
            tls=transport is not None and transport.get_extra_info("ssl_object") is not None,
            authenticated_as=session.auth_data if session.authenticated else None,
            process_id=server.process_id,
        )
        if self.faults.take("drop_after_data"):
            # aiosmtpd treats a cancelled command as a lost connection: it closes the transport
            # and sends nothing, so the client never learns the message was queued.
            raise asyncio.CancelledError
        return end_of_data_reply(self.backend.queue_ids.style, message.queue_id)


class SmtpRelay:
    """The SMTP listener: an aiosmtpd controller on a loopback port, restartable on that port.

    :param handler: the relay handler.
    :param host: interface to bind.
    :param port: TCP port; ``0`` picks a free one (kept across restarts).
    :param tls_mode: ``starttls``, ``implicit`` or ``none``.
    :param tls_context: the server TLS context (unused in ``none`` mode).
    """

    def __init__(
        self, handler: RelayHandler, *, host: str, port: int, tls_mode: str, tls_context: ssl.SSLContext
    ):
        self.handler = handler
        self.host = host
        self.port = port
        self.tls_mode = check_smtp_tls(tls_mode)
        self.tls_context = tls_context
        self._controller: RelayController | None = None

    @property
    def running(self) -> bool:
        """Whether the relay accepts connections."""
        return self._controller is not None

    def start(self) -> None:
        """Bind and serve in the controller's thread; a no-op if already running."""
        if self._controller is not None:
            return
        listener = _listen(self.host, self.port)
        self.port = listener.getsockname()[1]
        controller = _make_controller(self, listener)
        try:
            controller.start()
        except BaseException:
            listener.close()
            raise
        self._controller = controller

    def stop(self) -> None:
        """Stop serving, drop open sessions and release the port."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()


def _unrouteable(address: str) -> bool:
    return address.rstrip(">").lower().endswith(".invalid")


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        # A restart must get its old port back although closed sessions linger in TIME_WAIT.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(64)
        listener.setblocking(False)
    except BaseException:
        listener.close()
        raise
    return listener


def _make_controller(relay: SmtpRelay, listener: socket.socket) -> RelayController:
    from .smtpd import RelayController

    backend = relay.handler.backend
    return RelayController(
        relay.handler,
        listener=listener,
        new_process_id=backend.queue_ids.new_process_id,
        auth_needs_starttls=relay.tls_mode == "starttls",
        hostname=relay.host,
        port=relay.port,
        ssl_context=relay.tls_context if relay.tls_mode == "implicit" else None,
        server_hostname=_RELAY_HOSTNAME,
        ident=_IDENTS.get(backend.queue_ids.style, _DEFAULT_IDENT),
        tls_context=relay.tls_context if relay.tls_mode == "starttls" else None,
        auth_required=True,
        authenticator=relay.handler.authenticate,
        data_size_limit=MAX_MESSAGE_BYTES,
        enable_SMTPUTF8=True,
    )
