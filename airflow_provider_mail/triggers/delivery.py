"""DeliveryTrigger: the delivery gate, polled asynchronously in the triggerer.

It applies exactly the classification and policy of the sensors' ``poke()``
(:func:`airflow_provider_mail._delivery.policy.judge`), sleeps between polls, yields one plain-JSON event
and returns. Its kwargs hold the connection id and the ids only, never a key or password.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_mail._delivery.checks import Sender25DeliveryCheck, XmailerDeliveryCheck
from airflow_provider_mail._delivery.errors import (
    MAX_CONSECUTIVE_TRANSIENT_ERRORS,
    TransientStreak,
    error_event,
)
from airflow_provider_mail._delivery.policy import DeliveryPolicy, XmailerTarget, judge
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
    """

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
        """Poll, judge, sleep; yield one event and return."""
        policy = DeliveryPolicy(**self.policy)
        check = self._check()
        streak = TransientStreak(self.max_consecutive_errors)
        polls = 0
        try:
            while True:
                polls += 1
                try:
                    outcomes = await check.acheck()
                except MailProviderError as err:
                    if not streak.tolerate(err):
                        yield TriggerEvent(error_event(err, polls))
                        return
                    self.log.warning(
                        "delivery poll %d failed (%s, %d in a row); trying again in %.0f s",
                        polls,
                        err,
                        streak.count,
                        self.poll_interval,
                    )
                    await asyncio.sleep(self.poll_interval)
                    continue
                streak.reset()
                verdict = judge(outcomes, policy, now=time.time())
                self.log.info("delivery poll %d: %s", polls, verdict.message)
                if verdict.done:
                    yield TriggerEvent(
                        {
                            "status": verdict.state,
                            "message": verdict.message,
                            "outcomes": verdict.xcom(),
                            "polls": polls,
                        }
                    )
                    return
                await asyncio.sleep(self.poll_interval)
        finally:
            await check.aclose()
