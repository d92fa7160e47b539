"""The emulated Postal installation's data: mail servers, their message databases, and the
read-only snapshots (:class:`StoredMessage`) tests inspect.

Each mail server has its own message database and id counters, as in Postal, so the same id
under another API key is another message (reference doc §8).
"""

from __future__ import annotations

import heapq
import re
import secrets
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from functools import cached_property
from typing import Any

from airflow_provider_mail.testing._clock import EmulatorClock

from .lifecycle import (
    POSTAL_HOLD_EXPIRY_SECONDS,
    DeliveryRow,
    LifecycleTiming,
    PlannedAttempt,
    make_row,
    plan_attempts,
    script_for,
)
from .mime import attachments_of, body_text, header_map, parse_message
from .wire import MOONROPE, check_flavour

_TOKEN_ALPHABET = string.ascii_letters + string.digits
_NAME_PREFIX = re.compile(r".*<")
_NAME_SUFFIX = re.compile(r">.*")
_COMMENT = re.compile(r"\(.+?\)")
_HAS_MSGID = re.compile(rb"^X-Postal-MsgID:", re.IGNORECASE | re.MULTILINE)
# Statuses the message dequeuer records while processing a message (the others — Bounced,
# HoldCancelled — are recorded from outside, without processing it).
_PROCESSING = frozenset({"Sent", "SoftFail", "HardFail", "Error", "Held"})


def strip_name(address: str) -> str:
    """Postal's ``strip_name_from_address`` (``lib/postal/helpers.rb``): drop a display name and
    any comment — ``"Ana <ana@x.org>"`` and ``"ana@x.org (Ana)"`` both give ``"ana@x.org"``.

    :param address: an address, optionally with a display name or comment.
    """
    return _COMMENT.sub("", _NAME_SUFFIX.sub("", _NAME_PREFIX.sub("", address))).strip()


@dataclass
class MessageRecord:
    """A message row of a server's message database (mutable; guarded by the backend lock)."""

    id: int
    token: str
    rcpt_to: str
    mail_from: str
    raw: bytes
    timestamp: float
    tag: str | None
    bounce: bool | None
    message_id: str | None
    subject: str | None
    script: str
    size: int = 0
    scope: str = "outgoing"
    received_with_ssl: bool = True
    released_at: float | None = None
    deliveries: list[DeliveryRow] = field(default_factory=list)

    def process(self, status: str) -> None:
        """What Postal's outgoing processor does to the message before it records ``status``.

        ``MessageDequeuer::OutgoingMessageProcessor`` (``app/lib/message_dequeuer/
        outgoing_message_processor.rb``): ``add_tag`` sets a still-nil tag from the last
        ``X-Postal-Tag`` header, before a credential hold; ``add_outgoing_headers`` (after the
        holds, so a Held message waits for its release) prepends ``X-Postal-MsgID: <token>``
        unless the headers have one (``Message#add_outgoing_headers``). The emulator signs
        nothing, so no ``DKIM-Signature`` is added.

        :param status: the status about to be recorded.
        """
        if status not in _PROCESSING:
            return
        if self.tag is None:
            tags = header_map(self.raw.split(b"\r\n\r\n", 1)[0]).get("x-postal-tag")
            if tags:
                self.tag = tags[-1]
        if status != "Held" and not _HAS_MSGID.search(self.raw.split(b"\r\n\r\n", 1)[0]):
            self.raw = f"X-Postal-MsgID: {self.token}\r\n".encode() + self.raw

    def plan(self, timing: LifecycleTiming) -> list[PlannedAttempt]:
        """Every delivery row this message will get, given what happened so far."""
        return plan_attempts(self.script, self.timestamp, timing, self.released_at)

    @property
    def status(self) -> str:
        """The status of the latest delivery row, ``Pending`` before the first."""
        return self.deliveries[-1].status if self.deliveries else "Pending"

    def status_expansion(self) -> dict[str, Any]:
        """The ``status`` expansion of ``messages/message`` (reference doc §5, §7)."""
        latest = self.deliveries[-1] if self.deliveries else None
        held = latest is not None and latest.status == "Held"
        return {
            "status": self.status,
            "last_delivery_attempt": latest.timestamp if latest else None,
            "held": held,
            "hold_expiry": round(latest.timestamp + POSTAL_HOLD_EXPIRY_SECONDS, 6)
            if held and latest
            else None,
        }


class MailServer:
    """One Postal mail server: its API credential, domain settings and message database.

    :param name: how snapshots and the admin interface name the server (never the key).
    :param api_key: the API credential's key.
    :param verified_domains: From domains authorised on the server (exact names; subdomains
        are not implied).
    :param use_for_any: the server has a verified "use for any" domain: any From is accepted.
    :param allow_sender: the ``Sender`` address may authorise instead of ``From``.
    :param suspended: answer every request with ``ServerSuspended``.
    """

    def __init__(
        self,
        name: str,
        api_key: str,
        *,
        verified_domains: tuple[str, ...] = (),
        use_for_any: bool = False,
        allow_sender: bool = False,
        suspended: bool = False,
    ):
        self.name = name
        self.api_key = api_key
        self.verified_domains = frozenset(domain.lower() for domain in verified_domains)
        self.use_for_any = use_for_any
        self.allow_sender = allow_sender
        self.suspended = suspended
        self.messages: dict[int, MessageRecord] = {}
        #: Called with ``(record, row)`` for each delivery row recorded (the webhook emitter listens).
        self.on_delivery: Callable[[MessageRecord, DeliveryRow], None] | None = None
        self._next_id = 1
        self._next_delivery_id = 1
        # Next planned attempt of every unfinished message, earliest first: each request only looks at
        # what is due instead of walking the whole message database.
        self._due: list[tuple[float, int]] = []
        self._unscheduled: list[int] = []

    def authorises(self, address: str | None) -> bool:
        """Whether ``address`` may be used as From (Postal's ``authenticated_domain_for_address``).

        :param address: the From/Sender value, display name allowed.
        """
        if address is None or not address.strip():
            return False
        _local, at, domain = strip_name(address).partition("@")
        if not at or not domain:
            return False
        return domain.lower() in self.verified_domains or self.use_for_any

    def create_message(
        self,
        *,
        rcpt_to: str,
        mail_from: str,
        raw: bytes,
        timestamp: float,
        tag: str | None,
        bounce: bool | None,
        message_id: str | None,
        subject: str | None,
        token: str | None = None,
    ) -> MessageRecord:
        """Insert a message, ``Pending``, with the next id of this server.

        :param rcpt_to: envelope recipient.
        :param mail_from: envelope sender.
        :param raw: the stored RFC 822 bytes.
        :param timestamp: creation time (emulator clock).
        :param tag: the message tag.
        :param bounce: the bounce flag (``None`` = not given, Moonrope raw sends).
        :param message_id: the Message-ID without brackets.
        :param subject: the decoded subject.
        :param token: the token to use (default: 16 fresh alphanumerics).
        """
        record = MessageRecord(
            id=self._next_id,
            token=token or new_token(),
            rcpt_to=rcpt_to,
            mail_from=mail_from,
            raw=raw,
            timestamp=round(timestamp, 6),
            tag=tag,
            bounce=bounce,
            message_id=message_id,
            subject=subject,
            script=script_for(rcpt_to),
            size=len(raw),  # the size column is set once, at insert
        )
        self.messages[record.id] = record
        self._unscheduled.append(record.id)
        self._next_id += 1
        return record

    def reschedule(self, message_id: int) -> None:
        """Plan a message's next attempt again (its plan changed, e.g. a Held message was released).

        :param message_id: the message id.
        """
        self._unscheduled.append(message_id)

    def process_until(self, now: float, timing: LifecycleTiming) -> None:
        """Record every planned delivery attempt due by ``now``, oldest first, server-wide.

        :param now: the emulator clock's time.
        :param timing: the lifecycle timing.
        """
        for message_id in self._unscheduled:
            self._push_next(self.messages[message_id], timing)
        self._unscheduled.clear()
        while self._due and self._due[0][0] <= now:
            timestamp, message_id = heapq.heappop(self._due)
            record = self.messages.get(message_id)
            if record is None:
                continue
            plan = record.plan(timing)
            done = len(record.deliveries)
            if done >= len(plan) or plan[done].timestamp != timestamp:
                continue  # a stale entry: the plan changed and was pushed again
            bounce_id = None
            if plan[done].status == "Bounced":
                # The bounce arrived as an incoming message of this server and took the next id;
                # the emulator keeps only its id, not the message.
                bounce_id = self._next_id
                self._next_id += 1
            record.process(plan[done].status)
            row = make_row(self._next_delivery_id, plan[done], record.rcpt_to, bounce_id=bounce_id)
            record.deliveries.append(row)
            self._next_delivery_id += 1
            if self.on_delivery is not None:
                self.on_delivery(record, row)
            self._push_next(record, timing)

    def _push_next(self, record: MessageRecord, timing: LifecycleTiming) -> None:
        plan = record.plan(timing)
        done = len(record.deliveries)
        if done < len(plan):
            heapq.heappush(self._due, (plan[done].timestamp, record.id))

    def clear(self) -> None:
        """Empty the message database and restart the id counters."""
        self.messages.clear()
        self._next_id = 1
        self._next_delivery_id = 1
        self._due.clear()
        self._unscheduled.clear()


def new_token() -> str:
    """A message token: 16 random alphanumerics (Postal ≥ 3.0)."""
    return "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(16))


@dataclass(frozen=True)
class StoredMessage:
    """A read-only snapshot of one stored message, its status current as of the snapshot.

    Convenience views parse :attr:`raw` on first use: :attr:`headers` (the parsed message),
    :attr:`plain_body`, :attr:`html_body`, :attr:`attachments`.
    """

    id: int
    token: str
    server: str
    rcpt_to: str
    mail_from: str
    message_id: str | None
    subject: str | None
    tag: str | None
    bounce: bool | None
    raw: bytes
    timestamp: float
    scope: str
    deliveries: list[DeliveryRow]
    status: str

    @classmethod
    def of(cls, server: MailServer, record: MessageRecord) -> StoredMessage:
        """Snapshot ``record`` of ``server``."""
        return cls(
            id=record.id,
            token=record.token,
            server=server.name,
            rcpt_to=record.rcpt_to,
            mail_from=record.mail_from,
            message_id=record.message_id,
            subject=record.subject,
            tag=record.tag,
            bounce=record.bounce,
            raw=record.raw,
            timestamp=record.timestamp,
            scope=record.scope,
            deliveries=list(record.deliveries),
            status=record.status,
        )

    @cached_property
    def headers(self) -> EmailMessage:
        """The raw message parsed with :mod:`email` (``msg["Subject"]``, ``msg.get_all(...)``)."""
        return parse_message(self.raw)

    @cached_property
    def plain_body(self) -> str | None:
        """The decoded ``text/plain`` body, or ``None``."""
        return body_text(self.raw, "plain")

    @cached_property
    def html_body(self) -> str | None:
        """The decoded ``text/html`` body, or ``None``."""
        return body_text(self.raw, "html")

    @cached_property
    def attachments(self) -> list[tuple[str, str, bytes]]:
        """``(filename, content_type, data)`` of every attachment, in order."""
        return [(item.filename, item.content_type, item.data) for item in attachments_of(self.raw)]

    def summary(self) -> dict[str, Any]:
        """A JSON-able digest for ``GET /_emulator/messages``."""
        wanted = ("From", "To", "Cc", "Sender", "Reply-To", "Subject", "Message-ID", "X-Postal-MsgID")
        headers = {name: str(self.headers[name]) for name in wanted if self.headers[name] is not None}
        return {
            "server": self.server,
            "id": self.id,
            "token": self.token,
            "rcpt_to": self.rcpt_to,
            "mail_from": self.mail_from,
            "subject": self.subject,
            "tag": self.tag,
            "bounce": self.bounce,
            "status": self.status,
            "message_id": self.message_id,
            "timestamp": self.timestamp,
            "headers": headers,
            "attachments": [
                {"filename": name, "content_type": kind, "size": len(data)}
                for name, kind, data in self.attachments
            ],
            "deliveries": [row.as_api() for row in self.deliveries],
        }


class Sender25Backend:
    """All state of one emulated Postal installation, shared by the HTTP app and the test API.

    A single re-entrant lock guards it: request threads and the test thread take turns.

    :param clock: the emulator clock.
    :param timing: lifecycle timing.
    :param flavour: the initial flavour.
    :param return_path_domain: the domain of generated Message-IDs.
    """

    def __init__(
        self, *, clock: EmulatorClock, timing: LifecycleTiming, flavour: str, return_path_domain: str
    ):
        self.clock = clock
        self.timing = timing
        self.return_path_domain = return_path_domain
        self.lock = threading.RLock()
        self._flavour = check_flavour(flavour)
        self.servers: dict[str, MailServer] = {}
        self.default_api_key = ""

    @property
    def flavour(self) -> str:
        """The emulated flavour; settable at runtime."""
        return self._flavour

    @flavour.setter
    def flavour(self, value: str) -> None:
        self._flavour = check_flavour(value)

    def add_server(self, server: MailServer) -> MailServer:
        """Register ``server`` under its API key.

        :raises ValueError: if another server already uses the key.
        """
        with self.lock:
            if server.api_key in self.servers:
                raise ValueError("a server with this API key already exists")
            self.servers[server.api_key] = server
            return server

    def server_for_key(self, api_key: str) -> MailServer | None:
        """Return the server whose API credential is ``api_key``, or ``None``."""
        with self.lock:
            return self.servers.get(api_key)

    def refresh(self, server: MailServer) -> None:
        """Bring ``server``'s deliveries up to the current emulator time."""
        with self.lock:
            server.process_until(self.clock.now(), self.timing)

    def snapshots(self, server: MailServer) -> list[StoredMessage]:
        """Snapshots of all of ``server``'s messages, current as of now, in id order."""
        with self.lock:
            server.process_until(self.clock.now(), self.timing)
            return [StoredMessage.of(server, record) for _, record in sorted(server.messages.items())]

    def snapshot(self, server: MailServer, message_id: int) -> StoredMessage:
        """A snapshot of one message of ``server``.

        :raises KeyError: if the server has no such message.
        """
        with self.lock:
            server.process_until(self.clock.now(), self.timing)
            if message_id not in server.messages:
                raise KeyError(f"server {server.name!r} has no message {message_id}")
            return StoredMessage.of(server, server.messages[message_id])

    def release(self, server: MailServer, message_id: int) -> None:
        """Release a Held message: it is sent ``delivery_delay`` later instead of expiring.

        :raises KeyError: if the server has no such message.
        :raises ValueError: if the message is not Held right now.
        """
        with self.lock:
            status = self.snapshot(server, message_id).status
            if status != "Held":
                raise ValueError(f"message {message_id} is {status}, only a Held message can be released")
            server.messages[message_id].released_at = self.clock.now()
            server.reschedule(message_id)

    def reset(self) -> None:
        """Empty every server's message database (servers and settings stay)."""
        with self.lock:
            for server in self.servers.values():
                server.clear()


@dataclass
class ActionContext:
    """What an API action works with: the authenticated server and where to report inserts.

    :param backend: the installation's state.
    :param server: the server the API key belongs to.
    :param flavour: the flavour answering this request.
    :param client_ip: the caller's address (for ``Received:``).
    :param stored_ids: ids of messages inserted so far by this request (survives a crash).
    """

    backend: Sender25Backend
    server: MailServer
    flavour: str
    client_ip: str
    stored_ids: list[int] = field(default_factory=list)

    @property
    def moonrope(self) -> bool:
        """Whether the Moonrope rules apply."""
        return self.flavour == MOONROPE
