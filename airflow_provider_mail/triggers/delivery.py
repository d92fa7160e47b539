"""DeliveryTrigger: the delivery gate, polled asynchronously in the triggerer.

It applies exactly the classification, policy and polling schedule of the sensors' ``poke()``
(:mod:`airflow_provider_mail._delivery.schedule`): each round fetches only the messages that are due,
then it sleeps until the earliest next one; it yields one plain-JSON event and returns. Its kwargs
hold the connection id and the ids only, never a key or password.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_mail._delivery.checks import Sender25DeliveryCheck, XmailerDeliveryCheck
from airflow_provider_mail._delivery.errors import (
    MAX_CONSECUTIVE_TRANSIENT_ERRORS,
    TransientStreak,
    error_event,
)
from airflow_provider_mail._delivery.policy import DeliveryPolicy, XmailerTarget
from airflow_provider_mail._delivery.schedule import DeliveryWatch
from airflow_provider_mail.exceptions import MailProviderError


class DeliveryTrigger(BaseTrigger):
    """Poll a delivery check until the policy says success or failure.

    :param service: ``"sender25"`` or ``"xmailer"``.
    :param conn_id: the connection id (the secret stays in the connection).
    :param messages: Sender25: ``{message id: recipient}``; xmailer: a list of target dicts.
    :param policy: :class:`~airflow_provider_mail._delivery.policy.DeliveryPolicy` fields.
    :param poll_interval: seconds between polls.
    :param lookback: xmailer: seconds to look back when the targets carry no time.
    :param max_consecutive_errors: transient failures in a row that end the wait (with the last one).

    The clock, the sleep and the schedule are class attributes, not kwargs: a benchmark or a test may
    replace them on an instance (a simulated clock), and the serialized kwargs stay the ids only.
    """

    #: Epoch seconds now (replaceable by a simulated clock).
    clock: Callable[[], float] = staticmethod(time.time)
    #: Wait this many seconds (replaceable by a simulated sleep).
    sleep: Callable[[float], Awaitable[Any]] = staticmethod(asyncio.sleep)
    #: Poll each message on its own schedule (``False``: every unfinished message every interval).
    adaptive: bool = True

    def __init__(
        self,
        *,
        service: str,
        conn_id: str,
        messages: dict[str, str | None] | list[dict[str, Any]],
        policy: dict[str, Any],
        poll_interval: float = 30.0,
        lookback: float = 86400.0,
        max_consecutive_errors: int = MAX_CONSECUTIVE_TRANSIENT_ERRORS,
    ) -> None:
        super().__init__()
        if service not in ("sender25", "xmailer"):
            raise ValueError(f"service must be sender25 or xmailer, got {service!r}")
        self.service = service
        self.conn_id = conn_id
        self.messages = messages
        self.policy = policy
        self.poll_interval = float(poll_interval)
        self.lookback = float(lookback)
        self.max_consecutive_errors = int(max_consecutive_errors)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and plain-JSON kwargs."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "service": self.service,
                "conn_id": self.conn_id,
                "messages": self.messages,
                "policy": self.policy,
                "poll_interval": self.poll_interval,
                "lookback": self.lookback,
                "max_consecutive_errors": self.max_consecutive_errors,
            },
        )

    def _check(self) -> Sender25DeliveryCheck | XmailerDeliveryCheck:
        if self.service == "sender25":
            assert isinstance(self.messages, dict)
            return Sender25DeliveryCheck(self.conn_id, dict(self.messages))
        assert isinstance(self.messages, list)
        return XmailerDeliveryCheck(
            self.conn_id, [XmailerTarget(**t) for t in self.messages], lookback=self.lookback
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll the due messages, judge, sleep until the next one is due; yield one event and return."""
        async for event in self.rounds():
            if event is not None:
                yield TriggerEvent(event)
                return

    async def rounds(self) -> AsyncIterator[dict[str, Any] | None]:
        """One item per poll round: ``None`` while waiting, else the final event's payload.

        Each round fetches only the messages :class:`~airflow_provider_mail._delivery.schedule.
        DeliveryWatch` says are due, records them (the batch is re-judged only when something changed)
        and sleeps until the earliest next-poll time. xmailer: one report request per round covers
        every due target, and the report window only spans the targets still awaited.
        """
        policy = DeliveryPolicy(**self.policy)
        check = self._check()
        watch = DeliveryWatch(self._keys(), policy, self.poll_interval, adaptive=self.adaptive)
        streak = TransientStreak(self.max_consecutive_errors)
        polls = 0
        try:
            while True:
                polls += 1
                now = self.clock()
                due = watch.due(now)
                try:
                    outcomes = await check.acheck(due)
                except MailProviderError as err:
                    if not streak.tolerate(err):
                        yield error_event(err, polls)
                        return
                    self.log.warning(
                        "delivery poll %d failed (%s, %d in a row); trying again in %.0f s",
                        polls,
                        err,
                        streak.count,
                        self.poll_interval,
                    )
                    yield None
                    await self.sleep(self.poll_interval)
                    continue
                streak.reset()
                watch.record(outcomes, now)
                verdict = watch.verdict(now)
                if verdict is not None and verdict.done:
                    yield {
                        "status": verdict.state,
                        "message": verdict.message,
                        "outcomes": verdict.xcom(),
                        "polls": polls,
                    }
                    return
                wake = watch.next_wake()
                self.log.info(
                    "delivery poll %d: %d polled, %s; %d still watched",
                    polls,
                    len(due),
                    verdict.message if verdict is not None else "waiting",
                    len(watch.next_at),
                )
                yield None
                after = self.clock()
                await self.sleep(self.poll_interval if wake is None else max(0.0, wake - after))
        finally:
            await check.aclose()

    def _keys(self) -> list[str]:
        if isinstance(self.messages, dict):
            return list(self.messages)
        return [str(target["key"]) for target in self.messages]
