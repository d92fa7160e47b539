"""The one retry policy of the provider: how long to wait, and whether to try again at all.

Every call of both services (Sender25 requests, the xmailer report, SMTP transactions), sync or async,
asks :meth:`Attempts.wait_after` what to do with a failed attempt; the drivers only sleep the answer.
No sleeping and no I/O in here.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from airflow_provider_mail._transport.failures import AttemptFailed, FailureKind
from airflow_provider_mail.exceptions import (
    NOTHING_WENT_OUT,
    UNKNOWN_OUTCOME,
    AmbiguousSendError,
    MailProviderError,
    ServiceAskedToWait,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How many times and how long to wait before repeating a request.

    Waits grow exponentially with "equal jitter" (a random time between half and all of the exponential
    step), so many workers hitting the same outage do not retry in lock-step. A server's ``Retry-After``
    wins when it is longer, capped at ``max_wait``.

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


@dataclass(frozen=True)
class SendIdentity:
    """What a send is, for the :class:`AmbiguousSendError` it may turn into.

    :param service: ``"sender25"`` or ``"xmailer"``.
    :param what: the operation, e.g. ``/api/v1/send/message`` or ``SMTP DATA``.
    :param recipients: who may have been sent the message.
    :param where_to_look: how the user can find out whether it was queued.
    :param message_id: the message's Message-ID, when known before the send.
    """

    service: str
    what: str
    recipients: Sequence[str]
    where_to_look: str
    message_id: str | None = None


class Attempts:
    """The retry state of one call: decides after each failed attempt, never sleeps itself.

    .. code-block:: python

        attempts = Attempts(policy, "Sender25 /api/v1/messages/message")
        while True:
            try:
                return attempt()
            except AttemptFailed as failed:
                sleep(attempts.wait_after(failed))

    :param policy: the connection's retry policy.
    :param what: the call, for log lines.
    :param send: set when the call is a send: a ``MAYBE_SENT`` failure then ends the call with
        :class:`AmbiguousSendError` instead of a retry.
    """

    def __init__(self, policy: RetryPolicy, what: str, *, send: SendIdentity | None = None) -> None:
        self.policy = policy
        self.what = what
        self.send = send
        self.made = 0

    def wait_after(self, failed: AttemptFailed) -> float:
        """Seconds to wait before the next attempt; raises the final error when there is none.

        :param failed: the failure of the attempt just made.
        """
        self.made += 1
        outcome_of_failure(failed)
        if failed.kind is FailureKind.CONFIGURATION:
            raise failed.error
        if failed.kind is FailureKind.MAYBE_SENT and self.send is not None:
            raise ambiguous_send_error(self.send, failed.error) from failed.error
        if failed.retry_after is not None and failed.retry_after > self.policy.max_wait:
            # waiting less than asked only earns another refusal: stop now, say how long to wait
            raise ServiceAskedToWait(
                f"{self.what}: the service asked to wait {failed.retry_after:.0f} s (Retry-After), longer "
                f"than this connection waits ({self.policy.max_wait:.0f} s, extra retry_max_wait): nothing "
                f"more was sent. Retry after the wait (e.g. retry_delay of at least "
                f"{failed.retry_after:.0f} s).",
                wait_seconds=failed.retry_after,
            ) from failed.error
        if self.made > self.policy.max_retries:
            raise failed.error
        wait = self.policy.delay(self.made - 1, failed.retry_after)
        log.warning(
            "%s failed (%s); retry %d of %d in %.2f s",
            self.what,
            failed.error,
            self.made,
            self.policy.max_retries,
            wait,
        )
        return wait


def outcome_of_failure(failed: AttemptFailed) -> MailProviderError:
    """Give the failure's error what went out, from the failure's class, unless its raiser set it.

    ``NEVER_SENT`` and ``CONFIGURATION`` failures never reached the application (nothing went out);
    after a ``MAYBE_SENT`` one the outcome is unknown.

    :param failed: the failed attempt.
    """
    error = failed.error
    if "send_outcome" not in vars(error):
        error.with_outcome(UNKNOWN_OUTCOME if failed.kind is FailureKind.MAYBE_SENT else NOTHING_WENT_OUT)
    return error


def ambiguous_send_error(send: SendIdentity, error: Exception) -> AmbiguousSendError:
    """The error of a send whose outcome is unknown: what happened, and what to check before re-sending.

    :param send: the send.
    :param error: the failure seen.
    """
    recipients = list(send.recipients)
    shown = ", ".join(recipients[:5]) + (f" and {len(recipients) - 5} more" if len(recipients) > 5 else "")
    return AmbiguousSendError(
        f"{send.service} may have accepted this send ({send.what}) but the outcome is unknown: {error}. "
        f"It was NOT retried and is NOT re-sent by this provider, so nothing goes out twice. "
        f"Recipients: {shown}. Before running the task "
        f"again, {send.where_to_look} and send again only if no message was queued.",
        service=send.service,
        recipients=recipients,
        http_status=getattr(error, "http_status", None),
        message_id=send.message_id,
    )
