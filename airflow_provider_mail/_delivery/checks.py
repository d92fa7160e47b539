"""Fetch the current outcome of awaited messages, sync (sensor ``poke``) or async (trigger).

The sync and async methods of each check differ only in how they call the hook; classification and
the policy live in :mod:`airflow_provider_mail._delivery.policy`.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Any

from airflow_provider_mail._delivery.policy import (
    FINAL_FAILURES,
    DeliveryStatus,
    MessageOutcome,
    XmailerTarget,
    sender25_outcome,
    with_delivery_detail,
    xmailer_outcome,
)
from airflow_provider_mail._xmailer.exim import parse_queue_id
from airflow_provider_mail._xmailer.report_parser import ReportRow
from airflow_provider_mail.hooks.sender25 import Sender25Hook
from airflow_provider_mail.hooks.xmailer import XmailerReportHook

#: How many ``messages/message`` requests one async poll keeps in flight.
SENDER25_CONCURRENCY = 16
_NEEDS_DETAIL = FINAL_FAILURES | {DeliveryStatus.HELD, DeliveryStatus.DEFERRED}


class Sender25DeliveryCheck:
    """Read the status of Sender25 messages (one ``messages/message`` call each; deliveries for failures).

    :param conn_id: the Sender25 connection.
    :param messages: ``{message id: recipient or None}``.
    """

    def __init__(self, conn_id: str, messages: dict[str, str | None]) -> None:
        self.conn_id = conn_id
        self.messages = messages

    @cached_property
    def hook(self) -> Sender25Hook:
        """The hook; kept for the check's lifetime so connections are reused between polls."""
        return Sender25Hook(sender25_conn_id=self.conn_id)

    def check(self) -> list[MessageOutcome]:
        """Fetch every message's outcome (sync)."""
        outcomes = []
        for key, recipient in self.messages.items():
            outcome = sender25_outcome(key, recipient, self.hook.get_message(key, ["status", "details"]))
            if outcome.status in _NEEDS_DETAIL:
                outcome = with_delivery_detail(outcome, self.hook.get_deliveries(key))
            outcomes.append(outcome)
        return outcomes

    async def acheck(self) -> list[MessageOutcome]:
        """Fetch every message's outcome (async, a bounded number in flight)."""
        limit = asyncio.Semaphore(SENDER25_CONCURRENCY)

        async def one(key: str, recipient: str | None) -> MessageOutcome:
            async with limit:
                outcome = sender25_outcome(
                    key, recipient, await self.hook.aget_message(key, ["status", "details"])
                )
                if outcome.status in _NEEDS_DETAIL:
                    outcome = with_delivery_detail(outcome, await self.hook.aget_deliveries(key))
                return outcome

        results: list[MessageOutcome] = await asyncio.gather(*(one(k, r) for k, r in self.messages.items()))
        return results

    async def aclose(self) -> None:
        """Release the async client."""
        await self.hook.aclose()


class XmailerDeliveryCheck:
    """Read the xmailer report once for the whole batch and match rows to the awaited deliveries.

    The window starts a few minutes before the earliest receive time embedded in the queue ids (or the
    earliest ``sent_after``), else ``lookback`` ago, and ends now.

    :param conn_id: the xmailer connection.
    :param targets: the awaited deliveries.
    :param lookback: seconds to look back when no time is known from the targets.
    """

    LEAD = timedelta(minutes=5)
    #: The window runs past "now": the relay's clock may be ahead of the worker's.
    CLOCK_SKEW = timedelta(minutes=5)

    def __init__(self, conn_id: str, targets: list[XmailerTarget], *, lookback: float = 86400.0) -> None:
        self.conn_id = conn_id
        self.targets = targets
        self.lookback = lookback

    @cached_property
    def hook(self) -> XmailerReportHook:
        """The report hook."""
        return XmailerReportHook(xmailer_conn_id=self.conn_id)

    def window(self, now: float | None = None) -> tuple[datetime, datetime]:
        """The report window covering every target, up to a few minutes past now.

        :param now: epoch seconds (defaults to the current time).
        """
        end = datetime.fromtimestamp(now if now is not None else time.time(), timezone.utc) + self.CLOCK_SKEW
        known = [
            parsed.received_at for t in self.targets if t.queue_id and (parsed := parse_queue_id(t.queue_id))
        ]
        known += [datetime.fromtimestamp(t.sent_after, timezone.utc) for t in self.targets if t.sent_after]
        unknown = any(
            t.sent_after is None and not (t.queue_id and parse_queue_id(t.queue_id)) for t in self.targets
        )
        start = min(known) - self.LEAD if known else end - timedelta(seconds=self.lookback)
        if unknown:
            start = min(start, end - timedelta(seconds=self.lookback))
        return min(start, end - timedelta(minutes=1)), end

    def check(self, now: float | None = None) -> list[MessageOutcome]:
        """One report request for the whole batch (sync).

        :param now: epoch seconds (defaults to the current time).
        """
        start, end = self.window(now)
        return self._classify(self.hook.get_report(start, end))

    async def acheck(self, now: float | None = None) -> list[MessageOutcome]:
        """One streamed report request for the whole batch (async).

        :param now: epoch seconds (defaults to the current time).
        """
        start, end = self.window(now)
        rows = [row async for row in self.hook.aiter_report(start, end)]
        return self._classify(rows)

    async def aclose(self) -> None:
        """Nothing to release: each async report request uses its own client."""

    def _classify(self, rows: Any) -> list[MessageOutcome]:
        matched: dict[str, list[ReportRow]] = {target.key: [] for target in self.targets}
        by_queue_id: dict[str, list[XmailerTarget]] = {}
        loose: list[XmailerTarget] = []
        for target in self.targets:
            if target.queue_id:
                by_queue_id.setdefault(target.queue_id, []).append(target)
            else:
                loose.append(target)
        for row in rows:
            for target in by_queue_id.get(row.queue_id, ()):
                if target.matches(row):
                    matched[target.key].append(row)
            for target in loose:
                if target.matches(row):
                    matched[target.key].append(row)
        return [xmailer_outcome(target, matched[target.key]) for target in self.targets]
