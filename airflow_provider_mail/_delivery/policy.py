"""The delivery gate's pure core, shared by the sensors' ``poke()`` and the async trigger.

One status vocabulary for both services, the mapping of each service's raw statuses onto it, and
the policy that turns a batch of outcomes into "keep waiting", "succeeded" or "failed". No I/O here:
the sync and async paths only differ in how they fetch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from functools import cached_property
from typing import Any

from airflow_provider_mail._xmailer.report_filter import ReportFilter
from airflow_provider_mail._xmailer.report_parser import Outcome, ReportRow
from airflow_provider_mail.exceptions import MailValidationError


class DeliveryStatus(str, Enum):
    """Where a message stands, whatever the service."""

    DELIVERED = "delivered"
    PENDING = "pending"
    DEFERRED = "deferred"  # soft failure, the service keeps retrying
    HELD = "held"
    FAILED = "failed"  # hard failure
    BOUNCED = "bounced"
    CANCELLED = "cancelled"


FINAL_FAILURES = frozenset({DeliveryStatus.FAILED, DeliveryStatus.BOUNCED, DeliveryStatus.CANCELLED})

#: Postal's message statuses (``status`` expansion) onto the shared vocabulary.
SENDER25_STATUSES = {
    "Pending": DeliveryStatus.PENDING,
    "Sent": DeliveryStatus.DELIVERED,
    "SoftFail": DeliveryStatus.DEFERRED,
    "Error": DeliveryStatus.DEFERRED,  # internal error, Postal re-queues it
    "HardFail": DeliveryStatus.FAILED,
    "Held": DeliveryStatus.HELD,
    "HoldCancelled": DeliveryStatus.CANCELLED,
    "Bounced": DeliveryStatus.BOUNCED,
}

_XMAILER_OUTCOMES = {
    Outcome.DELIVERED: DeliveryStatus.DELIVERED,
    Outcome.DEFERRED: DeliveryStatus.DEFERRED,
    Outcome.FAILED: DeliveryStatus.FAILED,
    Outcome.UNKNOWN: DeliveryStatus.PENDING,
}


@dataclass(frozen=True)
class MessageOutcome:
    """The state of one awaited message.

    :param key: the id as the XCom reports it (Sender25 message id, or ``queue_id/recipient``).
    :param recipient: the recipient, when known.
    :param status: the shared status.
    :param raw_status: the service's own status word or text.
    :param at: when that status was reached (epoch seconds), if known.
    :param detail: the service's explanation (SMTP reply, delivery details).
    :param retry_at: for a soft failure, when the service will retry (epoch seconds), if known.
    """

    key: str
    recipient: str | None
    status: DeliveryStatus
    raw_status: str | None
    at: float | None = None
    detail: str | None = None
    retry_at: float | None = None

    def as_xcom(self) -> dict[str, Any]:
        """Plain JSON: status, raw status, ISO time, detail, recipient."""
        at = datetime.fromtimestamp(self.at, timezone.utc).isoformat() if self.at is not None else None
        return {
            "status": self.status.value,
            "raw_status": self.raw_status,
            "at": at,
            "detail": self.detail,
            "recipient": self.recipient,
        }


@dataclass(frozen=True)
class DeliveryPolicy:
    """How a batch is judged.

    :param mode: ``"all"`` (every message delivered) or ``"any"`` (one is enough).
    :param fail_on_held: a Held message fails the gate (``True``) or keeps it waiting.
    :param bounce_grace_period: seconds to keep watching a delivered message for a late bounce.
    """

    mode: str = "all"
    fail_on_held: bool = True
    bounce_grace_period: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in ("all", "any"):
            raise ValueError(f"mode must be 'all' or 'any', got {self.mode!r}")
        if self.bounce_grace_period < 0:
            raise ValueError("bounce_grace_period must be >= 0")


@dataclass(frozen=True)
class Verdict:
    """The policy's answer for one poll.

    :param state: ``"waiting"``, ``"success"`` or ``"failure"``.
    :param outcomes: every awaited message's outcome.
    :param message: a person-readable summary (names each failed recipient and the reason).
    """

    state: str
    outcomes: tuple[MessageOutcome, ...]
    message: str

    @property
    def done(self) -> bool:
        """Whether the wait is over (success or failure)."""
        return self.state != "waiting"

    def xcom(self) -> dict[str, dict[str, Any]]:
        """The per-message final outcome, keyed by id."""
        return {outcome.key: outcome.as_xcom() for outcome in self.outcomes}


def judge(outcomes: Iterable[MessageOutcome], policy: DeliveryPolicy, *, now: float) -> Verdict:
    """Decide whether to keep waiting, succeed or fail fast.

    :param outcomes: the latest outcome of every awaited message.
    :param policy: the gate's policy.
    :param now: the current time (epoch seconds), for the bounce grace period.
    """
    outcomes = tuple(outcomes)
    failures = [o for o in outcomes if _is_failure(o, policy)]
    settled = [o for o in outcomes if _is_settled_delivery(o, policy, now)]
    if policy.mode == "all":
        if failures:
            return Verdict("failure", outcomes, describe_failures(failures))
        if len(settled) == len(outcomes):
            return Verdict("success", outcomes, f"all {len(outcomes)} message(s) delivered")
    else:
        if settled:
            return Verdict("success", outcomes, f"{len(settled)} of {len(outcomes)} message(s) delivered")
        if len(failures) == len(outcomes):
            return Verdict("failure", outcomes, describe_failures(failures))
    waiting = {status.value: sum(o.status is status for o in outcomes) for status in DeliveryStatus}
    return Verdict("waiting", outcomes, f"waiting: {', '.join(f'{k} {v}' for k, v in waiting.items() if v)}")


def _is_failure(outcome: MessageOutcome, policy: DeliveryPolicy) -> bool:
    return outcome.status in FINAL_FAILURES or (outcome.status is DeliveryStatus.HELD and policy.fail_on_held)


def _is_settled_delivery(outcome: MessageOutcome, policy: DeliveryPolicy, now: float) -> bool:
    if outcome.status is not DeliveryStatus.DELIVERED:
        return False
    if policy.bounce_grace_period <= 0:
        return True
    return outcome.at is not None and now - outcome.at >= policy.bounce_grace_period


def describe_failures(failures: Iterable[MessageOutcome]) -> str:
    """``"2 message(s) not delivered: ana@x (id 7): HardFail - 550 5.1.1 user unknown; …"``.

    Names the first :data:`NAMED_FAILURES` (each text cut at 300 characters) and counts the rest.

    :param failures: the failed outcomes.
    """
    failures = list(failures)
    parts = [
        f"{_cut(o.recipient or '?')} (id {o.key}): {_cut(o.raw_status or o.status.value)}"
        + (f" - {_cut(o.detail)}" if o.detail else "")
        for o in failures[:NAMED_FAILURES]
    ]
    more = len(failures) - NAMED_FAILURES
    # the message travels in the trigger's event and the error: bounded whatever the batch
    tail = f"; and {more} more (every outcome is in the gate's result)" if more > 0 else ""
    return f"{len(failures)} message(s) not delivered: " + "; ".join(parts) + tail


#: How many failures a verdict's message names (the rest are counted).
NAMED_FAILURES = 10
_MESSAGE_TEXT_MAX = 300


def _cut(text: str) -> str:
    return text if len(text) <= _MESSAGE_TEXT_MAX else text[:_MESSAGE_TEXT_MAX] + "…"


# -- Sender25 -----------------------------------------------------------------------------------------
def sender25_message_ids(value: Any) -> dict[str, str | None]:
    """Accept an int, a list of ints, or a send operator's XCom; return ``{str(id): recipient}``.

    :param value: ``7``, ``[7, 8]``, ``"7"``, or ``{"message_id": …, "messages": {rcpt: {"id": 7, …}}}``
        (a list of such XComs too, e.g. from a mapped send).
    """
    found: dict[str, str | None] = {}
    _collect_ids(value, found)
    if not found:
        raise _not_awaitable(f"no Sender25 message id in {value!r}")
    return found


def _collect_ids(value: Any, found: dict[str, str | None]) -> None:
    if isinstance(value, bool):
        raise _not_awaitable(f"{value!r} is not a message id")
    if _is_id(value):
        found.setdefault(str(int(value)), None)
    elif isinstance(value, Mapping) and isinstance(value.get("messages"), Mapping):
        for recipient, entry in value["messages"].items():
            if not isinstance(entry, Mapping) or not _is_id(entry.get("id")):
                raise _not_awaitable(f"the entry of {recipient!r} has no message id: {entry!r}")
            found[str(int(entry["id"]))] = str(recipient)
    elif _is_collection(value):
        for item in value:
            _collect_ids(item, found)
    else:
        raise _not_awaitable(f"{value!r} is not a Sender25 message id, a list of ids, or a send XCom")


def sender25_outcome(key: str, recipient: str | None, message: Mapping[str, Any]) -> MessageOutcome:
    """Classify ``messages/message`` data (with the ``status`` expansion).

    :param key: the message id.
    :param recipient: the recipient, when known from the send XCom.
    :param message: the API's data.
    """
    status_block = message.get("status") or {}
    raw = status_block.get("status") if isinstance(status_block, Mapping) else None
    details = message.get("details") if isinstance(message.get("details"), Mapping) else {}
    status = SENDER25_STATUSES.get(str(raw), DeliveryStatus.PENDING)
    at = status_block.get("last_delivery_attempt") if isinstance(status_block, Mapping) else None
    return MessageOutcome(
        key=key,
        recipient=recipient or (details or {}).get("rcpt_to"),
        status=status,
        raw_status=raw,
        at=float(at) if isinstance(at, (int, float)) else None,
    )


#: Postal's retry rule (``QueuedMessage.calculate_retry_time``): ``5 min * 1.3^attempts`` where
#: ``attempts`` counts the retries already queued (0 after the first soft failure).
POSTAL_RETRY_BASE = 300.0
POSTAL_RETRY_FACTOR = 1.3
#: Attempts after which Postal hard-fails a message instead of retrying.
POSTAL_MAX_ATTEMPTS = 18
_RETRYING = frozenset({"SoftFail", "Error"})
_REMOTE_DELAY = re.compile(
    r"(?:try|retry)[a-z ]*?(?:in|after)\s+(\d+)\s*(seconds?|secs?|s|minutes?|mins?|m)\b", re.IGNORECASE
)


def postal_retry_at(deliveries: Sequence[Mapping[str, Any]]) -> float | None:
    """When Postal will retry a soft-failed message, from its delivery rows (oldest first).

    The trailing run of ``SoftFail``/``Error`` rows counts the attempts; the next retry is the last
    one's timestamp plus ``5 min * 1.3^(attempts - 1)``, or the delay the remote named ("try again in
    N seconds/minutes") when it did. ``None`` when the rows do not say (no timestamp, no soft failure).

    :param deliveries: ``messages/deliveries`` data, oldest first.
    """
    attempts = 0
    for row in reversed(deliveries):
        if row.get("status") not in _RETRYING:
            break
        attempts += 1
    if not attempts or attempts >= POSTAL_MAX_ATTEMPTS:
        return None
    last = deliveries[-1].get("timestamp")
    if isinstance(last, bool) or not isinstance(last, (int, float)):
        return None
    found = _REMOTE_DELAY.search(str(deliveries[-1].get("output") or ""))
    if found:
        delay = float(found.group(1)) * (60.0 if found.group(2).lower().startswith("m") else 1.0)
    else:
        delay = POSTAL_RETRY_BASE * POSTAL_RETRY_FACTOR ** (attempts - 1)
    return float(last) + delay


def with_delivery_detail(outcome: MessageOutcome, deliveries: Sequence[Mapping[str, Any]]) -> MessageOutcome:
    """Add the latest delivery attempt's explanation (``details`` and remote ``output``), and for a
    soft failure the time of the service's next retry (:func:`postal_retry_at`).

    :param outcome: the classified outcome.
    :param deliveries: ``messages/deliveries`` data, oldest first.
    """
    if not deliveries:
        return outcome
    last = deliveries[-1]
    parts = [str(part) for part in (last.get("details"), last.get("output")) if part]
    return MessageOutcome(
        outcome.key,
        outcome.recipient,
        outcome.status,
        outcome.raw_status,
        outcome.at,
        " | ".join(parts) or None,
        postal_retry_at(deliveries) if outcome.status is DeliveryStatus.DEFERRED else None,
    )


# -- xmailer ------------------------------------------------------------------------------------------
#: Seconds a report row may predate ``sent_after`` and still match: report times are truncated to the
#: second, and the relay's clock is not the worker's. A delivery in the same second as the send (or a
#: little "before" it, by the relay's clock) must match, never stay pending.
SENT_AFTER_TOLERANCE = 30.0


@dataclass(frozen=True)
class XmailerTarget:
    """One awaited xmailer delivery: a queue id with a recipient, or a sender/recipient/time triple.

    :param key: the id reported in the XCom.
    :param queue_id: the relay's queue id, if known.
    :param recipient: the recipient (``None`` means every recipient of the queue id).
    :param sender: the envelope sender (for triples).
    :param sent_after: epoch seconds; rows before it are ignored (for triples).
    """

    key: str
    queue_id: str | None
    recipient: str | None
    sender: str | None = None
    sent_after: float | None = None

    @cached_property
    def row_filter(self) -> ReportFilter:
        """The queue id / address rule every report row is matched with (built once per target)."""
        return ReportFilter(queue_id=self.queue_id, recipient=self.recipient, sender=self.sender)

    def matches(self, row: ReportRow) -> bool:
        """Whether a report row belongs to this target.

        :param row: a report row.
        """
        if self.queue_id is not None and row.queue_id != self.queue_id:
            return False
        if self.recipient is not None and row.recipient.lower() != self.recipient.lower():
            return False
        if self.sender is not None and row.sender.lower() != self.sender.lower():
            return False
        return (
            self.sent_after is None or row.delivered_at.timestamp() >= self.sent_after - SENT_AFTER_TOLERANCE
        )


def xmailer_outcome(target: XmailerTarget, rows: Iterable[ReportRow]) -> MessageOutcome:
    """Classify a target from its report rows; ``pending`` while none is visible yet.

    Each recipient counts by its latest event; for a queue id without a recipient the worst recipient
    decides (one failed recipient fails it, all must be delivered to deliver it).

    :param target: the awaited delivery.
    :param rows: the report rows matching it.
    """
    latest: dict[str, ReportRow] = {}
    for row in rows:
        key = row.recipient.lower()
        if key not in latest or row.delivered_at >= latest[key].delivered_at:
            latest[key] = row
    if not latest:
        return MessageOutcome(
            target.key,
            target.recipient,
            DeliveryStatus.PENDING,
            None,
            None,
            "not yet in the report (it is refreshed about every 15 minutes)",
        )
    worst = max(
        latest.values(), key=lambda row: (_SEVERITY[_XMAILER_OUTCOMES[row.outcome]], row.delivered_at)
    )
    status = _XMAILER_OUTCOMES[worst.outcome]
    return MessageOutcome(
        key=target.key,
        recipient=target.recipient or (worst.recipient if len(latest) == 1 else ", ".join(sorted(latest))),
        status=status,
        raw_status=worst.status_text,
        at=max(row.delivered_at for row in latest.values()).timestamp(),
        detail=worst.status_text if status is not DeliveryStatus.DELIVERED else None,
    )


#: Which status wins when a queue id's recipients disagree.
_SEVERITY = {
    DeliveryStatus.DELIVERED: 0,
    DeliveryStatus.PENDING: 1,
    DeliveryStatus.DEFERRED: 2,
    DeliveryStatus.HELD: 3,
    DeliveryStatus.CANCELLED: 4,
    DeliveryStatus.BOUNCED: 5,
    DeliveryStatus.FAILED: 6,
}


def xmailer_targets(value: Any) -> list[XmailerTarget]:
    """Accept what a DAG has at hand and return the deliveries to await.

    :param value: an xmailer send XCom (``{"queue_id", "accepted", "mail_from", "sent_at"}``), a queue
        id string, a ``{"sender", "recipient", "sent_after"}`` dict or ``(sender, recipient,
        sent_after)`` tuple (``sent_after``: aware datetime, ISO string or epoch), or a list of these.
    """
    targets: list[XmailerTarget] = []
    _collect_targets(value, targets)
    if not targets:
        raise _not_awaitable(f"nothing to wait for in {value!r}")
    return targets


def _collect_targets(value: Any, targets: list[XmailerTarget]) -> None:
    if isinstance(value, str):
        targets.append(XmailerTarget(key=value.strip(), queue_id=value.strip(), recipient=None))
    elif isinstance(value, Mapping) and "accepted" in value:
        queue_id = value.get("queue_id")
        for recipient in value.get("accepted") or []:
            if queue_id:
                targets.append(XmailerTarget(f"{queue_id}/{recipient}", queue_id, str(recipient)))
            else:  # the relay did not say its queue id: match on sender, recipient and time instead
                _collect_targets((value.get("mail_from"), recipient, value.get("sent_at")), targets)
    elif isinstance(value, Mapping) and "recipient" in value:
        _collect_targets((value.get("sender"), value["recipient"], value.get("sent_after")), targets)
    elif isinstance(value, tuple) and len(value) == 3:
        sender, recipient, sent_after = value
        after = _epoch(sent_after)
        targets.append(
            XmailerTarget(
                f"{sender or '*'}/{recipient}/{int(after or 0)}",
                None,
                str(recipient),
                str(sender) if sender else None,
                after,
            )
        )
    elif _is_collection(value):
        for item in value:
            _collect_targets(item, targets)
    else:
        raise _not_awaitable(
            f"{value!r} is not an xmailer queue id, send XCom or (sender, recipient, sent_after)"
        )


def _is_id(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())


def _is_collection(value: Any) -> bool:
    """Lists, tuples, sets and any other iterable that is not text or a mapping.

    Mapped tasks hand their XComs over as Airflow's lazy sequences (``LazyXComSequence``), which
    are iterable but none of the built-in types.
    """
    return isinstance(value, Iterable) and not isinstance(value, (str, bytes, bytearray, Mapping))


def _not_awaitable(text: str) -> MailValidationError:
    return MailValidationError(text, code="InvalidArgument")


def _epoch(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    from airflow_provider_mail._xmailer.report_window import as_aware

    return as_aware(value, "sent_after").timestamp()
