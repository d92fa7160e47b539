"""The delivery lifecycle of an emulated Sender25 (Postal) message, driven by the emulator clock.

A message is created ``Pending``. Its outcome is scripted by a tag in the recipient's local part
(``ana+softfail@example.org``); the script plus the timing settings give a *plan*: the delivery
attempts with their statuses and times. Attempts whose time has come are turned into delivery
rows when someone looks (an API call, ``emu.messages()``), so ``advance()`` is all a test needs.

================ =============================================================================
recipient tag    planned delivery rows (t0 = creation + ``delivery_delay``)
================ =============================================================================
(none)           Sent at t0
``+hardfail``    HardFail at t0 (``550 5.1.1 … User unknown``)
``+softfail``    ``softfail_attempts`` SoftFail rows (``451 4.7.1 Greylisted…``) every
                 ``retry_interval``, then Sent
``+error``       Error at t0, Sent ``retry_interval`` later
``+bounce``      Sent at t0, Bounced ``bounce_delay`` later
``+held``        Held at t0; HoldCancelled after ``hold_expiry_delay`` unless released first,
                 in which case Sent ``delivery_delay`` after the release
================ =============================================================================
"""

from __future__ import annotations

import random
import secrets
import string
from dataclasses import dataclass
from typing import Any

SCRIPTS = ("hardfail", "softfail", "error", "bounce", "held")

POSTAL_HOLD_EXPIRY_SECONDS = 7 * 24 * 3600.0  # what Postal reports as hold_expiry (config default)

_LOG_ID_ALPHABET = string.ascii_uppercase + string.digits


@dataclass(frozen=True)
class LifecycleTiming:
    """How fast emulated deliveries happen (seconds of emulator clock).

    :param delivery_delay: creation (or release) to the first delivery attempt.
    :param retry_interval: between attempts after a SoftFail or Error.
    :param bounce_delay: from Sent until a ``+bounce`` message becomes Bounced.
    :param hold_expiry_delay: how long a Held message waits before HoldCancelled.
    :param softfail_attempts: SoftFail attempts a ``+softfail`` recipient gets before Sent.
    """

    delivery_delay: float = 0.5
    retry_interval: float = 0.5
    bounce_delay: float = 1.0
    hold_expiry_delay: float = POSTAL_HOLD_EXPIRY_SECONDS
    softfail_attempts: int = 2

    def __post_init__(self) -> None:
        for name in ("delivery_delay", "retry_interval", "bounce_delay", "hold_expiry_delay"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.softfail_attempts < 0:
            raise ValueError("softfail_attempts must not be negative")


@dataclass(frozen=True)
class PlannedAttempt:
    """One future delivery row: when it happens and with which status."""

    timestamp: float
    status: str


@dataclass(frozen=True)
class DeliveryRow:
    """One delivery attempt as ``messages/deliveries`` reports it (field order is the wire's)."""

    id: int
    status: str
    details: str | None
    output: str | None
    sent_with_ssl: bool
    log_id: str | None
    time: float | None
    timestamp: float

    def as_api(self) -> dict[str, Any]:
        """Return the row in the API's key order."""
        return {
            "id": self.id,
            "status": self.status,
            "details": self.details,
            "output": self.output,
            "sent_with_ssl": self.sent_with_ssl,
            "log_id": self.log_id,
            "time": self.time,
            "timestamp": self.timestamp,
        }


def script_for(recipient: str) -> str:
    """Return the lifecycle script named by a recipient's ``+tag`` (``"sent"`` by default).

    :param recipient: the envelope recipient, with or without a display name.
    """
    address = recipient.rsplit("<", 1)[-1].split(">", 1)[0].strip()
    local = address.rsplit("@", 1)[0] if "@" in address else address
    for tag in local.lower().split("+")[1:]:
        if tag in SCRIPTS:
            return tag
    return "sent"


def plan_attempts(
    script: str, created: float, timing: LifecycleTiming, released_at: float | None = None
) -> list[PlannedAttempt]:
    """Return every delivery row a message will get, in time order.

    :param script: one of :data:`SCRIPTS` or ``"sent"``.
    :param created: the message's creation time.
    :param timing: the emulator's timing settings.
    :param released_at: when a Held message was released, if it was.
    """
    first = created + timing.delivery_delay
    retry = timing.retry_interval
    if script == "hardfail":
        return [PlannedAttempt(first, "HardFail")]
    if script == "softfail":
        soft = [PlannedAttempt(first + i * retry, "SoftFail") for i in range(timing.softfail_attempts)]
        return [*soft, PlannedAttempt(first + timing.softfail_attempts * retry, "Sent")]
    if script == "error":
        return [PlannedAttempt(first, "Error"), PlannedAttempt(first + retry, "Sent")]
    if script == "bounce":
        return [PlannedAttempt(first, "Sent"), PlannedAttempt(first + timing.bounce_delay, "Bounced")]
    if script == "held":
        if released_at is not None:
            return [
                PlannedAttempt(first, "Held"),
                PlannedAttempt(released_at + timing.delivery_delay, "Sent"),
            ]
        return [
            PlannedAttempt(first, "Held"),
            PlannedAttempt(first + timing.hold_expiry_delay, "HoldCancelled"),
        ]
    return [PlannedAttempt(first, "Sent")]


def make_row(
    row_id: int, attempt: PlannedAttempt, rcpt_to: str, *, bounce_id: int | None = None
) -> DeliveryRow:
    """Dress a planned attempt as a delivery row with plausible details/output.

    Columns a status path does not set stay NULL (``log_id``, ``time``, ``output``) or take
    the column default (``sent_with_ssl`` false), as in Postal's ``deliveries`` table.

    :param row_id: the server-wide delivery id.
    :param attempt: the attempt being recorded.
    :param rcpt_to: the message's recipient (named in details and outputs).
    :param bounce_id: for a Bounced row, the id of the bounce message that arrived.
    """
    address = rcpt_to.rsplit("<", 1)[-1].split(">", 1)[0].strip()
    domain = address.rsplit("@", 1)[-1] if "@" in address else "example.invalid"
    mx = f"mx1.{domain}"
    timestamp = round(attempt.timestamp, 6)
    status = attempt.status
    if status in ("Sent", "SoftFail", "HardFail"):
        details, output = _smtp_outcome(status, address, mx)
        duration = round(random.uniform(0.05, 0.95), 2)
        return DeliveryRow(row_id, status, details, output, True, _log_id(), duration, timestamp)
    if status == "Error":
        # MessageDequeuer::Base#handle_exception (app/lib/message_dequeuer/base.rb): details and
        # "<exception class>: <message>" only — no log_id, time or SSL flag.
        details = (
            "An internal error occurred while sending this message. "
            "This message will be retried automatically."
        )
        output = "Errno::ECONNRESET: Connection reset by peer"
        return DeliveryRow(row_id, status, details, output, False, None, None, timestamp)
    if status == "Held":
        # OutgoingMessageProcessor#hold_if_credential_is_set_to_hold
        details = "Credential is configured to hold all messages authenticated by it."
    elif status == "HoldCancelled":
        # Message#cancel_hold (lib/postal/message_db/message.rb), which the
        # ExpireHeldMessagesScheduledTask calls once hold_expiry has passed.
        details = "The hold on this message has been removed without action."
    else:  # Bounced: Message#bounce! (lib/postal/message_db/message.rb)
        details = f"We've received a bounce message for this e-mail. See <msg:{bounce_id}> for details."
    return DeliveryRow(row_id, status, details, None, False, None, None, timestamp)


def _smtp_outcome(status: str, address: str, mx: str) -> tuple[str, str]:
    if status == "Sent":
        return f"Message for {address} accepted by {mx} (192.0.2.25)", f"250 2.0.0 Ok: queued as {_log_id()}"
    if status == "SoftFail":
        return (
            f"Temporary SMTP delivery error when sending to {mx} (192.0.2.25)",
            "451 4.7.1 Greylisted, try again later",
        )
    return (
        f"Permanent SMTP delivery error when sending to {mx} (192.0.2.25)",
        f"550 5.1.1 <{address}>: Recipient address rejected: User unknown",
    )


def _log_id() -> str:
    return "".join(secrets.choice(_LOG_ID_ALPHABET) for _ in range(8))
