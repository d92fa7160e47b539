"""What the emulated xmailer relay remembers: received messages and their delivery events.

Delivery is scripted by a tag in the recipient's local part (``ana+hardfail@example.org``) and
timed by the emulator clock. Every event is planned when the message is queued; the report shows
the ones whose time has come (minus the report's visibility lag), so ``advance()`` is all a test
needs and no background thread runs.

================ ==============================================================================
recipient tag    report events (t0 = receipt + ``delivery_delay``)
================ ==============================================================================
(none)           ``Entregue com sucesso`` at t0 — delivered
``+hardfail``    ``550 5.1.1 <addr>: Recipient address rejected: User unknown in virtual
                 mailbox table`` at t0 — failed
``+softfail``    ``451 4.7.1 Greylisting in action, please come back later`` at t0 — deferred,
                 then ``Entregue com sucesso`` at t0 + ``softfail_retry`` — delivered
``+deferred``    the ``451 4.7.1 …`` event at t0 only — stays deferred
================ ==============================================================================
"""

from __future__ import annotations

import base64
import email
import json
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from email import policy
from email.message import EmailMessage
from typing import Any

from airflow_provider_mail.testing._clock import EmulatorClock

from .ids import QueueIdFactory

DELIVERED, DEFERRED, FAILED = "delivered", "deferred", "failed"
SUCCESS_TEXT = "Entregue com sucesso"  # the only status text the service documents
GREYLISTED_TEXT = "451 4.7.1 Greylisting in action, please come back later"
SCRIPT_TAGS = ("hardfail", "softfail", "deferred")


def user_unknown_text(address: str) -> str:
    """The remote server's 5xx reply a ``+hardfail`` recipient gets, as the report shows it.

    :param address: the recipient address.
    """
    return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown in virtual mailbox table"


@dataclass(frozen=True)
class ReceivedMessage:
    """One message the relay accepted (queued) at the end of an SMTP DATA.

    :param queue_id: the relay's id for it, shared by all its recipients; also assigned when the
        ``none`` queue id style keeps it out of the SMTP reply (the report still shows it).
    :param mail_from: the envelope sender (``MAIL FROM``).
    :param rcpt_tos: the accepted envelope recipients, in ``RCPT`` order.
    :param data: the message as received (dot-unstuffed, line endings untouched).
    :param received_at: emulator-clock epoch time of the end of DATA.
    :param tls: whether the connection was encrypted (STARTTLS or implicit TLS).
    :param authenticated_as: the SMTP AUTH user, or ``None``.
    """

    queue_id: str
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    received_at: float
    tls: bool
    authenticated_as: str | None

    @property
    def parsed(self) -> EmailMessage:
        """The message parsed with :data:`email.policy.default`."""
        return email.message_from_bytes(self.data, policy=policy.default)

    def summary(self) -> dict[str, Any]:
        """A JSON-compatible view for the admin interface (the data base64-encoded)."""
        facts = asdict(self)
        facts["data"] = base64.b64encode(self.data).decode("ascii")
        facts["subject"] = self.parsed.get("Subject")
        facts["size"] = len(self.data)
        return facts


@dataclass(frozen=True)
class DeliveryEvent:
    """One line of the delivery report: what happened to one recipient of one message.

    :param queue_id: the message's queue id.
    :param mail_from: the envelope sender.
    :param rcpt_to: the recipient.
    :param at: emulator-clock epoch time of the event.
    :param status_text: the report's status column.
    :param outcome: ``delivered``, ``deferred`` (4xx) or ``failed`` (5xx).
    """

    queue_id: str
    mail_from: str
    rcpt_to: str
    at: float
    status_text: str
    outcome: str

    def as_dict(self) -> dict[str, Any]:
        """Return the event as a JSON-compatible dict."""
        return asdict(self)


@dataclass(frozen=True)
class DeliveryTiming:
    """How fast emulated deliveries happen (seconds of emulator clock).

    :param delivery_delay: from receipt to a recipient's first event.
    :param softfail_retry: from a ``+softfail`` recipient's 4xx event to its delivery.
    """

    delivery_delay: float = 1.0
    softfail_retry: float = 2.0

    def __post_init__(self) -> None:
        for name in ("delivery_delay", "softfail_retry"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")


def script_for(recipient: str) -> str:
    """The delivery script a recipient's ``+tag`` names (``"deliver"`` when it names none).

    :param recipient: the envelope recipient address.
    """
    local = recipient.rsplit("@", 1)[0]
    for tag in local.lower().split("+")[1:]:
        if tag in SCRIPT_TAGS:
            return tag
    return "deliver"


def plan_events(message: ReceivedMessage, timing: DeliveryTiming) -> list[DeliveryEvent]:
    """Every report event of a message, recipient by recipient, each in time order.

    :param message: the queued message.
    :param timing: the emulator's timing settings.
    """
    first = message.received_at + timing.delivery_delay
    events: list[DeliveryEvent] = []
    for rcpt in message.rcpt_tos:
        script = script_for(rcpt)
        if script == "hardfail":
            steps = [(first, user_unknown_text(rcpt), FAILED)]
        elif script == "softfail":
            steps = [
                (first, GREYLISTED_TEXT, DEFERRED),
                (first + timing.softfail_retry, SUCCESS_TEXT, DELIVERED),
            ]
        elif script == "deferred":
            steps = [(first, GREYLISTED_TEXT, DEFERRED)]
        else:
            steps = [(first, SUCCESS_TEXT, DELIVERED)]
        events.extend(DeliveryEvent(message.queue_id, message.mail_from, rcpt, *step) for step in steps)
    return events


@dataclass(frozen=True)
class SyntheticReport:
    """A generated report to serve instead of the real one (parser and memory tests).

    :param lines: how many rows to generate.
    :param malformed_every: every n-th row is malformed; ``0`` for none.
    """

    lines: int
    malformed_every: int = 0


@dataclass
class XmailerBackend:
    """The relay's state, shared by the SMTP server and the report endpoint; thread-safe.

    :param clock: the emulator clock.
    :param timing: delivery timing.
    :param queue_ids: the queue id factory (its style decides the ids and the DATA reply).
    """

    clock: EmulatorClock
    timing: DeliveryTiming
    queue_ids: QueueIdFactory
    lock: threading.Lock = field(default_factory=threading.Lock)
    _messages: list[ReceivedMessage] = field(default_factory=list)
    _events: list[DeliveryEvent] = field(default_factory=list)
    _extra_rows: list[dict[str, Any] | str] = field(default_factory=list)
    _synthetic: SyntheticReport | None = None

    def queue(
        self,
        *,
        mail_from: str,
        rcpt_tos: Iterable[str],
        data: bytes,
        tls: bool,
        authenticated_as: str | None,
        process_id: int,
    ) -> ReceivedMessage:
        """Queue a message received now: give it an id and plan its delivery events.

        :param mail_from: the envelope sender.
        :param rcpt_tos: the accepted recipients.
        :param data: the message bytes.
        :param tls: whether the connection was encrypted.
        :param authenticated_as: the SMTP AUTH user.
        :param process_id: the connection's process id (the middle group of Exim ids).
        """
        received_at = self.clock.now()
        queue_id = self.queue_ids.issue(received_at, process_id)
        message = ReceivedMessage(
            queue_id, mail_from, list(rcpt_tos), bytes(data), received_at, tls, authenticated_as
        )
        with self.lock:
            self._messages.append(message)
            self._events.extend(plan_events(message, self.timing))
        return message

    def messages(self) -> list[ReceivedMessage]:
        """The queued messages in receipt order."""
        with self.lock:
            return list(self._messages)

    def events(self, until: float) -> list[DeliveryEvent]:
        """Events that happened by ``until``, oldest first (receipt order breaks ties).

        :param until: an emulator-clock epoch time.
        """
        with self.lock:
            happened = [event for event in self._events if event.at <= until]
        return sorted(happened, key=lambda event: event.at)

    def add_rows(self, rows: Iterable[dict[str, Any] | str]) -> None:
        """Append raw report rows (dicts in the JSON keys, or text lines) to every report.

        :param rows: the rows, in the order they should appear.
        :raises TypeError: for a row that is neither a dict nor a string, or not JSON-able.
        """
        checked = list(rows)
        for row in checked:
            if not isinstance(row, dict | str):
                raise TypeError(f"a report row is a dict or a text line, not {type(row).__name__}")
            json.dumps(row)  # fail here, not later inside a report request
        with self.lock:
            self._extra_rows.extend(dict(row) if isinstance(row, dict) else row for row in checked)

    def extra_rows(self) -> list[dict[str, Any] | str]:
        """The injected rows, in insertion order."""
        with self.lock:
            return list(self._extra_rows)

    @property
    def synthetic(self) -> SyntheticReport | None:
        """The synthetic report to serve, or ``None`` to serve the real one."""
        with self.lock:
            return self._synthetic

    def serve_synthetic(self, lines: int, malformed_every: int = 0) -> None:
        """Serve ``lines`` generated rows from now on; ``0`` lines turns it off.

        :param lines: rows per report.
        :param malformed_every: every n-th row malformed; ``0`` for none.
        :raises ValueError: for negative numbers.
        """
        if lines < 0 or malformed_every < 0:
            raise ValueError("lines and malformed_every must not be negative")
        with self.lock:
            self._synthetic = SyntheticReport(int(lines), int(malformed_every)) if lines else None

    def reset(self) -> None:
        """Forget messages, events, injected rows and the synthetic report."""
        with self.lock:
            self._messages.clear()
            self._events.clear()
            self._extra_rows.clear()
            self._synthetic = None
        self.queue_ids.forget()
