"""XmailerFailureTrigger: an event trigger (Airflow 3 ``AssetWatcher``) that turns xmailer's failed report
rows into asset events, each failure exactly once.

Every ``poll_interval`` it makes **one** report request (failed rows of the last ``lookback`` seconds) for
the connection, whatever number of DAGs watch the asset: the helper
:func:`airflow_provider_mail.webhooks.xmailer_bounce_asset` gives one asset and one trigger per connection,
and Airflow runs one trigger for equal kwargs. Each failed row not emitted before yields one event.

Where the cursor lives (see :mod:`airflow_provider_mail._webhooks.xmailer_failures`): the keys of the
failures already emitted are in the asset's state store, written by the provider's listener in the same
transaction that records the asset event. At start the trigger reads them; so a triggerer killed between
"yielded" and "committed" loses nothing (the row is emitted again by the next triggerer) and one killed
after the commit doubles nothing. Condition: Airflow runs a trigger on one triggerer at a time (its
``triggerer_id``); two triggerers only share the work, they do not run the same trigger together.

Airflow 3 only (asset watchers); on Airflow 2 the class imports but the helper refuses to build it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from airflow.triggers.base import TriggerEvent

from airflow_provider_mail._compat import BaseEventTrigger
from airflow_provider_mail._webhooks.xmailer_failures import (
    STORE_KEY,
    failure_payload,
    read_emitted,
    remember,
)
from airflow_provider_mail._xmailer.report_parser import Outcome
from airflow_provider_mail.exceptions import MailProviderError

#: The report is refreshed every 10-15 minutes: asking more often only repeats the same answer.
DEFAULT_POLL_INTERVAL = 300.0
#: A failed row can appear in the report up to ~15 minutes after it happened; six hours is ample.
DEFAULT_LOOKBACK = 6 * 3600.0


class XmailerFailureTrigger(BaseEventTrigger):
    """Watch the xmailer report of ``conn_id`` and yield one event per new failed (bounced) row.

    The event payload: ``queue_id``, ``sender``, ``recipient``, ``delivered_at`` (ISO 8601),
    ``status_text`` (the remote server's reply), ``smtp_code``, ``enhanced_code``, ``outcome``
    (``"failed"``), ``conn_id``, ``failure_key`` and ``forget_after`` (the dedupe bookkeeping).

    :param conn_id: the ``xmailer`` connection (its password stays in the connection).
    :param poll_interval: seconds between report requests (default 300).
    :param lookback: seconds of report each request covers (default 6 hours); a failure older than
        this when the watcher first starts is not emitted.
    """

    #: Epoch seconds now (a test may replace it on an instance; kwargs stay plain).
    clock: Callable[[], float] = staticmethod(time.time)
    sleep: Callable[[float], Awaitable[Any]] = staticmethod(asyncio.sleep)

    def __init__(
        self,
        *,
        conn_id: str = "xmailer_default",
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        lookback: float = DEFAULT_LOOKBACK,
    ) -> None:
        super().__init__()
        if not isinstance(conn_id, str) or not conn_id.strip():
            raise ValueError("conn_id must be a non-empty connection id")
        if not poll_interval > 0 or not lookback > 0:
            raise ValueError("poll_interval and lookback must be positive numbers of seconds")
        self.conn_id = conn_id
        self.poll_interval = float(poll_interval)
        self.lookback = float(lookback)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and plain kwargs (ids and numbers only)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"conn_id": self.conn_id, "poll_interval": self.poll_interval, "lookback": self.lookback},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll forever; yield one event per failed row whose key was not emitted before."""
        from airflow_provider_mail.hooks.xmailer import XmailerReportHook

        hook = XmailerReportHook(self.conn_id)
        emitted = await self._load_emitted()
        while True:
            now = self.clock()
            try:
                rows = await self._failed_rows(hook, now)
            except MailProviderError as err:
                # A watcher runs for good: a bad password or an outage is logged and polled again, so
                # fixing the connection is enough (the error text is already free of secrets).
                self.log.error("xmailer failure watcher on %r: %s", self.conn_id, err)
                rows = []
            for row, delivered in rows:
                payload = failure_payload(
                    row, conn_id=self.conn_id, delivered_epoch=delivered, lookback=self.lookback
                )
                if payload["failure_key"] in emitted:
                    continue
                emitted = remember(emitted, payload["failure_key"], payload["forget_after"], now=now)
                yield TriggerEvent(payload)
            await self.sleep(self.poll_interval)

    async def _failed_rows(self, hook: Any, now: float) -> list[tuple[dict[str, Any], float]]:
        start = datetime.fromtimestamp(now - self.lookback, tz=timezone.utc)
        end = datetime.fromtimestamp(now, tz=timezone.utc)
        rows = []
        async for row in hook.aiter_report(start, end, status="erro"):
            # The service's filter is a hint; the row's own classification decides (one rule for all).
            if row.outcome is Outcome.FAILED:
                rows.append((row.as_dict(), row.delivered_at.timestamp()))
        rows.sort(key=lambda item: item[1])
        return rows

    async def _load_emitted(self) -> dict[str, float]:
        """The failures whose events were committed (from the asset state store), or none."""
        store = getattr(self, "asset_state_store", None)
        if store is None:
            return {}
        try:
            value = await store.aget(STORE_KEY)
        except ValueError:
            # Several assets watched by one trigger: only the helper's one-asset form is supported.
            self.log.warning("xmailer failure watcher: attach it to exactly one asset; starting empty")
            return {}
        return read_emitted(value)
