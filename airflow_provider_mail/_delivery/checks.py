"""Fetch the current outcome of awaited messages, sync (sensor ``poke``) or async (trigger).

The sync and async methods of each check differ only in how they call the hook; classification and
the policy live in :mod:`airflow_provider_mail._delivery.policy`. A check lives for one wait: it keeps
its hook (one keep-alive session) between polls and is closed when the wait ends.

Both paths poll Sender25 messages :data:`POLL_CONCURRENCY` at a time: the trigger with that many
requests in flight on the event loop, ``poke()`` with that many threads over one pooled session.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
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
from airflow_provider_mail._transport.async_driver import MAX_CONNECTIONS
from airflow_provider_mail._transport.sync_driver import POOL_SIZE
from airflow_provider_mail._xmailer.exim import parse_queue_id
from airflow_provider_mail._xmailer.report_parser import ReportRow
from airflow_provider_mail.hooks.sender25 import Sender25Hook
from airflow_provider_mail.hooks.xmailer import XmailerReportHook

#: How many ``messages/message`` requests one poll keeps in flight, sync or async: the size of the
#: sync session's pool and of the event loop's async client (more would only queue there).
POLL_CONCURRENCY = min(POOL_SIZE, MAX_CONNECTIONS)
_NEEDS_DETAIL = FINAL_FAILURES | {DeliveryStatus.HELD, DeliveryStatus.DEFERRED}
#: The expansions every status read asks for (one tuple, not a new list per request).
_EXPANSIONS = ("status", "details")


class Sender25DeliveryCheck:
    """Read the status of Sender25 messages (one ``messages/message`` call each; deliveries for failures).

    :param conn_id: the Sender25 connection.
    :param messages: ``{message id: recipient or None}``.
    """

    def __init__(self, conn_id: str, messages: dict[str, str | None]) -> None:
        self.conn_id = conn_id
        self.messages = messages
        self._threads: ThreadPoolExecutor | None = None

    @cached_property
    def hook(self) -> Sender25Hook:
        """The hook; kept for the check's lifetime, so its keep-alive connections serve every poll."""
        return Sender25Hook(sender25_conn_id=self.conn_id)

    def _read(self, key: str) -> MessageOutcome:
        outcome = sender25_outcome(key, self.messages[key], self.hook.get_message(key, _EXPANSIONS))
        if outcome.status in _NEEDS_DETAIL:
            outcome = with_delivery_detail(outcome, self.hook.get_deliveries(key))
        return outcome

    def check(self, keys: Iterable[str] | None = None) -> list[MessageOutcome]:
        """Fetch the outcome of the given messages (default: all), sync, :data:`POLL_CONCURRENCY` at a time.

        The first error ends the poll (each thread stops at its next message) and is raised.

        :param keys: the message ids to read (the ones the schedule says are due).
        """
        due = list(self.messages if keys is None else keys)
        workers = min(POLL_CONCURRENCY, len(due))
        if workers <= 1:
            return [self._read(key) for key in due]
        # the connection is fetched and the session built here: never in a pool thread
        self.hook.get_conn()
        if self._threads is None:
            self._threads = ThreadPoolExecutor(POLL_CONCURRENCY, thread_name_prefix="delivery-poll")
        return _drain(due, self._read, workers, self._threads)

    async def acheck(self, keys: Iterable[str] | None = None) -> list[MessageOutcome]:
        """Fetch the outcome of the given messages (default: all), async, :data:`POLL_CONCURRENCY` in flight.

        A fixed pool of workers drains the keys: no task per message.

        :param keys: the message ids to read (the ones the schedule says are due).
        """
        messages = self.messages
        due = list(messages if keys is None else keys)
        pending = iter(due)
        outcomes: list[MessageOutcome] = []
        hook = self.hook

        async def worker() -> None:
            for key in pending:
                outcome = sender25_outcome(key, messages[key], await hook.aget_message(key, _EXPANSIONS))
                if outcome.status in _NEEDS_DETAIL:
                    outcome = with_delivery_detail(outcome, await hook.aget_deliveries(key))
                outcomes.append(outcome)

        # no more workers than messages: a triggerer runs thousands of one-message waits
        await asyncio.gather(*(worker() for _ in range(min(POLL_CONCURRENCY, len(due)))))
        return outcomes

    def close(self) -> None:
        """Release the threads and the keep-alive session (the end of a wait)."""
        if self._threads is not None:
            self._threads.shutdown(wait=True)
            self._threads = None
        if "hook" in self.__dict__:
            self.hook.close()

    async def aclose(self) -> None:
        """Release the async client."""
        await self.hook.aclose()


def _drain(
    keys: list[str], read: Callable[[str], MessageOutcome], workers: int, threads: ThreadPoolExecutor
) -> list[MessageOutcome]:
    """``read`` every key on ``workers`` threads pulling from one queue; stop at the first error."""
    pending = iter(keys)
    lock = threading.Lock()
    outcomes: list[MessageOutcome] = []
    errors: list[BaseException] = []

    def worker() -> None:
        while not errors:
            with lock:
                key = next(pending, None)
            if key is None:
                return
            try:
                outcomes.append(read(key))
            except BaseException as err:  # raised on the caller's thread below
                errors.append(err)
                return

    for future in [threads.submit(worker) for _ in range(workers)]:
        future.result()
    if errors:
        raise errors[0]
    return outcomes


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

    def window(
        self, now: float | None = None, targets: list[XmailerTarget] | None = None
    ) -> tuple[datetime, datetime]:
        """The report window covering the given targets (default: all), up to a few minutes past now.

        :param now: epoch seconds (defaults to the current time).
        :param targets: the targets still awaited: settled ones no longer widen the window.
        """
        targets = self.targets if targets is None else targets
        end = datetime.fromtimestamp(now if now is not None else time.time(), timezone.utc) + self.CLOCK_SKEW
        known = [parsed.received_at for t in targets if t.queue_id and (parsed := parse_queue_id(t.queue_id))]
        known += [datetime.fromtimestamp(t.sent_after, timezone.utc) for t in targets if t.sent_after]
        unknown = any(
            t.sent_after is None and not (t.queue_id and parse_queue_id(t.queue_id)) for t in targets
        )
        start = min(known) - self.LEAD if known else end - timedelta(seconds=self.lookback)
        if unknown:
            start = min(start, end - timedelta(seconds=self.lookback))
        return min(start, end - timedelta(minutes=1)), end

    def check(self, keys: Iterable[str] | None = None, now: float | None = None) -> list[MessageOutcome]:
        """One report request for the given targets (default: the whole batch), sync.

        :param keys: the targets' keys to classify (the ones the schedule says are due).
        :param now: epoch seconds (defaults to the current time).
        """
        targets = self._targets(keys)
        start, end = self.window(now, targets)
        return self._classify(self.hook.get_report(start, end), targets)

    async def acheck(
        self, keys: Iterable[str] | None = None, now: float | None = None
    ) -> list[MessageOutcome]:
        """One streamed report request for the given targets (default: the whole batch), async.

        :param keys: the targets' keys to classify (the ones the schedule says are due).
        :param now: epoch seconds (defaults to the current time).
        """
        targets = self._targets(keys)
        start, end = self.window(now, targets)
        rows = [row async for row in self.hook.aiter_report(start, end)]
        return self._classify(rows, targets)

    def _targets(self, keys: Iterable[str] | None) -> list[XmailerTarget]:
        if keys is None:
            return self.targets
        wanted = set(keys)
        return [target for target in self.targets if target.key in wanted]

    def close(self) -> None:
        """Release the keep-alive session (the end of a wait)."""
        if "hook" in self.__dict__:
            self.hook.close()

    async def aclose(self) -> None:
        """Nothing to release: each async report request uses its own client."""

    def _classify(self, rows: Any, targets: list[XmailerTarget]) -> list[MessageOutcome]:
        matched: dict[str, list[ReportRow]] = {target.key: [] for target in targets}
        by_queue_id: dict[str, list[XmailerTarget]] = {}
        loose: list[XmailerTarget] = []
        for target in targets:
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
        return [xmailer_outcome(target, matched[target.key]) for target in targets]
