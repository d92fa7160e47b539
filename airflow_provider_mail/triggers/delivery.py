"""DeliveryTrigger: the delivery gate, polled asynchronously in the triggerer.

It applies exactly the classification, policy and polling schedule of the sensors' ``poke()``
(:mod:`airflow_provider_mail._delivery.schedule`): each round fetches only the messages that are due,
then it sleeps until the earliest next one; it yields one plain-JSON event and returns.

Its kwargs hold the connection id and a *source* of a few KB (:mod:`airflow_provider_mail._delivery.
source`), never a key or password, and never the ids of a big batch: those stay in XCom pages that
the trigger reads once, through Airflow, when it starts (Airflow 3: through the triggerer's
supervisor, as any trigger reads a connection; Airflow 2: from the metadata database). Whichever
triggerer runs it, on whichever machine, reads the same pages.

Its event is stored in the task instance's ``next_kwargs`` column: it carries the gate's bounded
result (:mod:`airflow_provider_mail._delivery.result`: counts, the first failures and outcomes), never
every outcome. Above 20 messages the trigger first writes every outcome to XCom pages of the sensor's
task instance (``outcome_pages``), through Airflow, page by page.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_mail._delivery.awaited import AwaitedMessages, service_class
from airflow_provider_mail._delivery.errors import (
    MAX_CONSECUTIVE_TRANSIENT_ERRORS,
    TransientStreak,
    error_event,
)
from airflow_provider_mail._delivery.policy import DeliveryPolicy, Verdict
from airflow_provider_mail._delivery.result import PageTarget, finish
from airflow_provider_mail._delivery.schedule import DeliveryWatch
from airflow_provider_mail._delivery.source import Source
from airflow_provider_mail.exceptions import MailProviderError


class DeliveryTrigger(BaseTrigger):
    """Poll a delivery check until the policy says success or failure.

    :param service: ``"sender25"`` or ``"xmailer"``.
    :param conn_id: the connection id (the secret stays in the connection).
    :param source: where the awaited messages are: inline items and XCom page references
        (:class:`~airflow_provider_mail._delivery.source.Source` as JSON).
    :param policy: :class:`~airflow_provider_mail._delivery.policy.DeliveryPolicy` fields.
    :param poll_interval: seconds between polls.
    :param lookback: xmailer: seconds to look back when the targets carry no time.
    :param max_consecutive_errors: transient failures in a row that end the wait (with the last one).
    :param messages: the awaited messages themselves, as a trigger serialized by an earlier version
        carries them (Sender25: ``{message id: recipient}``; xmailer: target dicts); ``source`` wins.
    :param outcome_pages: the sensor's task instance (``dag_id``, ``run_id``, ``task_id``,
        ``map_index``) the outcome pages are written to; without it (a trigger of an earlier version)
        the event carries every outcome and the sensor writes the pages on resume.
    """

    def __init__(
        self,
        *,
        service: str,
        conn_id: str,
        policy: dict[str, Any],
        source: dict[str, Any] | None = None,
        poll_interval: float = 30.0,
        lookback: float = 86400.0,
        max_consecutive_errors: int = MAX_CONSECUTIVE_TRANSIENT_ERRORS,
        messages: dict[str, str | None] | list[dict[str, Any]] | None = None,
        outcome_pages: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.kind = service_class(service)
        if source is None and messages is None:
            raise ValueError("DeliveryTrigger needs a source (or the messages of an earlier version)")
        self.service = service
        self.conn_id = conn_id
        self.source = source
        self.messages = messages
        self.policy = policy
        self.poll_interval = float(poll_interval)
        self.lookback = float(lookback)
        self.max_consecutive_errors = int(max_consecutive_errors)
        self.outcome_pages = outcome_pages

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and plain-JSON kwargs (a few KB whatever the batch)."""
        kwargs: dict[str, Any] = {
            "service": self.service,
            "conn_id": self.conn_id,
            "policy": self.policy,
            "poll_interval": self.poll_interval,
            "lookback": self.lookback,
            "max_consecutive_errors": self.max_consecutive_errors,
        }
        if self.outcome_pages is not None:
            kwargs["outcome_pages"] = self.outcome_pages
        if self.source is not None:
            kwargs["source"] = self.source
        else:
            kwargs["messages"] = self.messages
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    async def awaited(self) -> AwaitedMessages:
        """The awaited messages: the source's pages are read here, once per run, off the event loop."""
        if self.source is not None:
            return await Source.from_json(self.source).aread(self.kind)
        return self.kind.from_trigger_messages(self.messages)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll the due messages, judge, sleep until the next one is due; yield one event and return."""
        async for event in self.rounds():
            if event is not None:
                yield TriggerEvent(event)
                return

    async def final_event(self, verdict: Verdict, polls: int) -> dict[str, Any]:
        """The event of a finished wait: the bounded result, every outcome written to pages first.

        :param verdict: the final verdict.
        :param polls: polls made.
        """
        event: dict[str, Any] = {"status": verdict.state, "message": verdict.message, "polls": polls}
        if self.outcome_pages is None:  # nowhere to write: the sensor pages them on resume
            event["outcomes"] = verdict.xcom()
            return event
        target = PageTarget.from_json(self.outcome_pages)
        # the pages are written through Airflow, blocking: off the event loop
        event["result"] = await asyncio.to_thread(finish, verdict.state, verdict.message, verdict, target)
        return event

    async def rounds(self) -> AsyncIterator[dict[str, Any] | None]:
        """One item per poll round: ``None`` while waiting, else the final event's payload.

        Each round fetches only the messages :class:`~airflow_provider_mail._delivery.schedule.
        DeliveryWatch` says are due, records them (the batch is re-judged only when something changed)
        and sleeps until the earliest next-poll time. xmailer: one report request per round covers
        every due target, and the report window only spans the targets still awaited.
        """
        try:
            awaited = await self.awaited()
        except MailProviderError as err:  # the pages are gone: nothing to wait for
            yield error_event(err, 0)
            return
        policy = DeliveryPolicy(**self.policy)
        check = awaited.check(self.conn_id, lookback=self.lookback)
        watch = DeliveryWatch(awaited.keys, policy, self.poll_interval)
        streak = TransientStreak(self.max_consecutive_errors)
        polls = 0
        try:
            while True:
                polls += 1
                now = time.time()
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
                    await asyncio.sleep(self.poll_interval)
                    continue
                streak.reset()
                watch.record(outcomes, now)
                verdict = watch.verdict(now)
                if verdict is not None and verdict.done:
                    yield await self.final_event(verdict, polls)
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
                await asyncio.sleep(self.poll_interval if wake is None else max(0.0, wake - time.time()))
        finally:
            await check.aclose()
