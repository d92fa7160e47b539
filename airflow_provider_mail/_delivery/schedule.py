"""When to look at each awaited message again: the gate's adaptive polling schedule (pure, no I/O).

:func:`next_poll` decides per message from what it is; :class:`DeliveryWatch` keeps the latest outcome
and the next-poll time of every message of one wait, says which ones are due, and re-judges the batch
only when something changed. ``poke()`` and :class:`~airflow_provider_mail.triggers.delivery.
DeliveryTrigger` use both identically.

Two promises hold for every state (``interval`` is the sensor's ``poke_interval``):

* **never more often than the poke interval**: a message polled at ``now`` is next due at
  ``now + interval`` or later;
* **seen within one interval** of the moment a change became visible, per state as stated in
  :func:`next_poll` (the one deliberate exception is a late bounce, watched once at the end of the
  grace period the DAG author chose).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from airflow_provider_mail._delivery.policy import (
    FINAL_FAILURES,
    DeliveryPolicy,
    DeliveryStatus,
    MessageOutcome,
    Verdict,
    judge,
)

#: Postal picks a queued retry up to this many seconds before its ``retry_after``
#: (``QueuedMessage.retriable``: ``retry_after <= 30.seconds.from_now``).
POSTAL_EARLY_PICKUP = 30.0
#: A soft failure whose next retry is unknown is polled at growing gaps, never longer than this.
UNKNOWN_RETRY_CAP = 600.0


def next_poll(
    outcome: MessageOutcome,
    now: float,
    policy: DeliveryPolicy,
    poke_interval: float,
    *,
    since: float | None = None,
) -> float | None:
    """The next time (epoch seconds) to poll a message after seeing ``outcome`` at ``now``; ``None``: never.

    Every answer is ``None`` or ``>= now + poke_interval``.

    * ``pending`` (nothing attempted yet; the service usually attempts within seconds):
      ``now + interval``. A change is seen within one interval of becoming visible.
    * ``deferred`` with a known next retry ``r`` (``outcome.retry_at``: the last attempt + Postal's
      ``5 min * 1.3^(attempts-1)``, or the delay the remote named): at ``r - 30 s`` (Postal may pick a
      retry up that early), not before ``now + interval``; once ``r`` is past, every interval for two
      intervals, then at gaps of half the time since ``r`` (capped by :data:`UNKNOWN_RETRY_CAP`). A retry
      made at or after ``r - 30 s`` and within two intervals of ``r`` is seen within one interval.
    * ``deferred`` with no known retry: gaps of half the time spent deferred (since ``outcome.at``,
      else ``since``), at least one interval and at most :data:`UNKNOWN_RETRY_CAP`; a change is seen
      within the current gap, so within ``max(interval, UNKNOWN_RETRY_CAP)``.
    * ``delivered``: never again without a grace period (or once settled). With one, once at the end of
      the grace period (``at + bounce_grace_period``), not before ``now + interval``: that is when the
      gate could first count it as delivered, so a bounce is seen no later than that decision, at most
      one interval after it (it is reported up to the grace period after it happened).
    * ``held``: final when Held fails the gate; else every interval (a person may release it at any
      moment), seen within one interval.
    * failed, bounced, cancelled: final, never again.

    :param outcome: what the poll at ``now`` saw.
    :param now: when that poll started (epoch seconds).
    :param policy: the gate's policy (grace period, whether Held fails).
    :param poke_interval: the shortest gap between two polls of one message (seconds).
    :param since: when this message was first seen in its current state, if ``outcome.at`` is unknown.
    """
    interval = max(float(poke_interval), 0.0)
    soonest = now + interval
    status = outcome.status
    if status in FINAL_FAILURES:
        return None
    if status is DeliveryStatus.PENDING:
        return soonest
    if status is DeliveryStatus.HELD:
        return None if policy.fail_on_held else soonest
    if status is DeliveryStatus.DELIVERED:
        grace = policy.bounce_grace_period
        if grace <= 0:
            return None
        if outcome.at is None:  # never settles (judge needs the time): keep looking, gently
            return max(soonest, now + grace)
        settle = outcome.at + grace
        return None if now >= settle else max(soonest, settle)
    # deferred: the service retries on its own schedule
    retry = outcome.retry_at
    cap = max(interval, UNKNOWN_RETRY_CAP)
    if retry is not None:
        if now < retry:
            return max(soonest, retry - POSTAL_EARLY_PICKUP)
        overdue = now - retry
        return soonest if overdue < 2 * interval else now + min(cap, max(interval, overdue / 2))
    start = outcome.at if outcome.at is not None else since
    waited = max(0.0, now - start) if start is not None else 0.0
    return now + min(cap, max(interval, waited / 2))


class DeliveryWatch:
    """The state of one wait: latest outcome and next-poll time per message (pure; no I/O).

    :param keys: the awaited messages' keys, in the order the XCom reports them.
    :param policy: the gate's policy.
    :param poke_interval: the shortest gap between two polls of one message.
    :param adaptive: ``False`` polls every unfinished message every interval (the fixed schedule, for
        comparison).
    """

    def __init__(
        self, keys: Iterable[str], policy: DeliveryPolicy, poke_interval: float, *, adaptive: bool = True
    ) -> None:
        self.keys = list(keys)
        self.policy = policy
        self.poke_interval = float(poke_interval)
        self.adaptive = adaptive
        self.outcomes: dict[str, MessageOutcome] = {}
        #: key -> next poll time; a key is absent once it needs no more polls.
        self.next_at: dict[str, float] = dict.fromkeys(self.keys, float("-inf"))
        self._since: dict[str, float] = {}
        self._verdict: Verdict | None = None
        self._dirty = True

    def due(self, now: float) -> list[str]:
        """The keys to poll at ``now`` (all of them on the first call).

        :param now: epoch seconds.
        """
        return [key for key, at in self.next_at.items() if at <= now]

    def next_wake(self) -> float | None:
        """The earliest next-poll time, ``None`` when no message needs polling again."""
        return min(self.next_at.values(), default=None)

    def record(self, outcomes: Iterable[MessageOutcome], now: float) -> None:
        """Take in the outcomes a poll started at ``now`` returned; schedule each message's next poll.

        :param outcomes: the polled messages' outcomes.
        :param now: when the poll started (epoch seconds).
        """
        for outcome in outcomes:
            key = outcome.key
            if self.outcomes.get(key) != outcome:
                if (previous := self.outcomes.get(key)) is None or previous.status is not outcome.status:
                    self._since[key] = now
                self.outcomes[key] = outcome
                self._dirty = True
            if self.adaptive:
                at = next_poll(outcome, now, self.policy, self.poke_interval, since=self._since.get(key))
            else:
                final = next_poll(outcome, now, self.policy, 0.0) is None
                at = None if final else now + self.poke_interval
            if at is None:
                self.next_at.pop(key, None)
                self._dirty = True  # settled or final: the verdict may change
            else:
                self.next_at[key] = at

    def verdict(self, now: float) -> Verdict | None:
        """The policy's answer once every message has been seen; re-judged only after a change.

        :param now: epoch seconds.
        """
        if len(self.outcomes) < len(self.keys):
            return None
        if self._dirty or self._verdict is None:
            self._verdict = judge((self.outcomes[key] for key in self.keys), self.policy, now=now)
            self._dirty = False
        return self._verdict

    def summary(self) -> dict[str, Any]:
        """How many messages are still polled, and the earliest next poll (for logs)."""
        return {"awaiting": len(self.next_at), "next_wake": self.next_wake()}
