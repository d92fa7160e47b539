"""Delivery sensors: wait until sent messages show as delivered; fail fast when one bounced.

Both sensors poke once on the worker and, when ``deferrable`` (default from ``[operators]
default_deferrable``), hand the rest of the wait, with the sensor's remaining timeout, to
:class:`~airflow_provider_mail.triggers.delivery.DeliveryTrigger`. ``poke()`` and the trigger apply
the same classification, policy and polling schedule (:mod:`airflow_provider_mail._delivery.schedule`),
and poll Sender25 messages as many at a time (:data:`~airflow_provider_mail._delivery.checks.
POLL_CONCURRENCY`):

- **poke mode**: the sensor instance keeps the schedule between pokes; each poke reads only the due
  messages, and Airflow's sleep between pokes is stretched to the earliest next-poll time.
- **reschedule mode**: each poke runs in a new process, so nothing is kept: every poke reads every
  message, then the task is rescheduled for the earliest next-poll time of the batch (never sooner
  than ``poke_interval``, never past the timeout) instead of after ``poke_interval``.
- **deferrable**: the first poke reads every message; the trigger then keeps per-message next-poll
  times and sleeps until the earliest one.

**One wait, one setup.** What the sensor awaits is resolved once per wait (once per process in
reschedule mode): a bulk send's XCom pages are read once, and one check (one hook, one keep-alive
session) serves every poke of the wait and is closed when it ends. The trigger's kwargs carry a
source of a few KB (:mod:`airflow_provider_mail._delivery.source`), never the ids of a big batch;
nothing the gate reads lives on one worker's disk.

**A bounded result.** The sensor's XCom (and the trigger's event, stored in the task instance's
``next_kwargs``) is a summary of a few KB whatever the batch
(:class:`~airflow_provider_mail.xcom.DeliveryGateResult`): the counts per status, the first 20
failures and the first 20 outcomes. Above 20
messages every outcome is written to XCom pages of the sensor's own task instance (by the trigger when
deferred, else by the sensor), and :func:`~airflow_provider_mail.xcom.iter_gate_outcomes` reads them
from any worker. In reschedule mode each poke is a new process: the awaited messages' pages are read
again at every poke (once per poke, never once per message).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_mail._compat import (
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    default_deferrable,
)
from airflow_provider_mail._delivery.awaited import AwaitedMessages, Sender25Messages, XmailerMessages
from airflow_provider_mail._delivery.checks import Sender25DeliveryCheck, XmailerDeliveryCheck
from airflow_provider_mail._delivery.errors import (
    MAX_CONSECUTIVE_TRANSIENT_ERRORS,
    TransientStreak,
    error_from_event,
)
from airflow_provider_mail._delivery.policy import DeliveryPolicy, Verdict
from airflow_provider_mail._delivery.result import PageTarget, finish, is_summary
from airflow_provider_mail._delivery.schedule import DeliveryWatch
from airflow_provider_mail._delivery.source import Source, for_trigger, gate_source
from airflow_provider_mail.exceptions import DeliveryFailedError, MailProviderError
from airflow_provider_mail.hooks.sender25 import Sender25Hook
from airflow_provider_mail.hooks.xmailer import XmailerReportHook
from airflow_provider_mail.triggers.delivery import DeliveryTrigger

if TYPE_CHECKING:
    from airflow_provider_mail._compat import Context

EVENT_STATES = ("success", "failure", "error")


@dataclass
class _Wait:
    """What one wait keeps between pokes: its source, messages, schedule and check (closed at the end)."""

    source: Source
    awaited: AwaitedMessages
    watch: DeliveryWatch
    check: Sender25DeliveryCheck | XmailerDeliveryCheck


class _DeliverySensor(BaseSensorOperator):
    """The shared gate: policy, poke, deferral and event validation.

    :param wait_for: ``"all"`` (default) or ``"any"`` of the messages delivered.
    :param fail_on_held: a Held message fails the gate (default) or keeps it waiting.
    :param bounce_grace_period: after ``delivered``, keep watching this long (seconds or a timedelta)
        for a late bounce.
    :param deferrable: hand the wait to the triggerer after the first poke.
    :param max_consecutive_errors: transient failures in a row (connection, timeout, 5xx) after which
        the wait ends with the last one; configuration, auth and not-found errors end it at once.
    """

    ui_color = "#e6f4ea"
    #: The service's awaited messages (how its ``messages`` are read and polled).
    kind: ClassVar[type[Sender25Messages] | type[XmailerMessages]]
    messages: Any

    def __init__(
        self,
        *,
        wait_for: str = "all",
        fail_on_held: bool = True,
        bounce_grace_period: float | timedelta = 0.0,
        deferrable: bool | None = None,
        max_consecutive_errors: int = MAX_CONSECUTIVE_TRANSIENT_ERRORS,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", 30.0)
        super().__init__(**kwargs)
        grace = (
            bounce_grace_period.total_seconds()
            if isinstance(bounce_grace_period, timedelta)
            else bounce_grace_period
        )
        self.policy = DeliveryPolicy(
            mode=wait_for, fail_on_held=fail_on_held, bounce_grace_period=float(grace)
        )
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.max_consecutive_errors = max_consecutive_errors
        self._streak = TransientStreak(max_consecutive_errors)
        self._wait: _Wait | None = None

    @property
    def service(self) -> str:
        """``"sender25"`` or ``"xmailer"``."""
        return self.kind.service

    def _lookback(self) -> float:
        return 86400.0

    def _start_wait(self) -> _Wait:
        """This wait's state, built on first use from the rendered ``messages`` (pages read once)."""
        if self._wait is None:
            source = gate_source(self.messages, self.kind)
            awaited = source.read(self.kind)
            self._wait = _Wait(
                source,
                awaited,
                DeliveryWatch(awaited.keys, self.policy, self.poke_interval),
                awaited.check(self._conn_id(), lookback=self._lookback()),
            )
        return self._wait

    def _end_wait(self) -> None:
        """Close the wait's check (its session and threads); the next wait starts afresh."""
        if self._wait is not None:
            self._wait.check.close()
            self._wait = None

    def _verdict(self) -> Verdict | None:
        """One check of the due messages under the gate's error rule.

        ``None`` when a transient failure, or nothing being due, keeps it waiting.
        """
        try:
            # what to await is read under the same rule: a named fatal error (pages gone, a results
            # file on another machine, nothing awaitable) ends the wait, or skips under soft_fail
            wait = self._start_wait()
            watch = wait.watch
            now = time.time()
            due = watch.due(now)
            if not due:
                return None
            outcomes = wait.check.check(due)
        except MailProviderError as err:
            if not self._streak.tolerate(err):
                self._end_with(err)
            self.log.warning(
                "%s delivery check failed (%s, %d in a row, the wait ends at %d); waiting on",
                self.service,
                err,
                self._streak.count,
                self._streak.limit,
            )
            return None
        self._streak.reset()
        watch.record(outcomes, now)
        verdict = watch.verdict(now)
        if verdict is not None:
            self.log.info(
                "%s delivery: %s (%d polled, %d still watched)",
                self.service,
                verdict.message,
                len(due),
                len(watch.next_at),
            )
        return verdict

    def _get_next_poke_interval(self, started_at: Any, run_duration: Any, poke_count: int) -> float:
        """Sleep (poke mode) or reschedule (reschedule mode) until the earliest message is due.

        Never sooner than Airflow's own interval (``poke_interval``, or its exponential backoff), never
        past the sensor's timeout: the last poke still happens before it.
        """
        base = float(super()._get_next_poke_interval(started_at, run_duration, poke_count))
        wake = self._wait.watch.next_wake() if self._wait is not None else None
        if wake is None:
            return base
        remaining = max(base, float(self.timeout) - float(run_duration()))
        return max(base, min(wake - time.time(), remaining))

    def poke(self, context: Context) -> PokeReturnValue | bool:
        """Check once: success returns the gate's result, failure raises, anything else keeps waiting."""
        verdict = self._verdict()
        if verdict is None or not verdict.done:
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._finish(verdict, context))

    def _finish(self, verdict: Verdict, context: Context) -> dict[str, Any]:
        """The bounded result of a finished verdict (every outcome to pages first); a failure raises."""
        result = finish(verdict.state, verdict.message, verdict, context.get("ti"))
        if verdict.state == "failure":
            self._fail(verdict.message, result)
        return result

    def execute(self, context: Context) -> Any:
        try:
            if not self.deferrable:
                return super().execute(context)
            started = time.monotonic()
            verdict = self._verdict()
            if verdict is not None and verdict.done:
                return self._finish(verdict, context)
            remaining = max(1.0, self.timeout - (time.monotonic() - started))
            self.defer(
                trigger=self.build_trigger(context),
                method_name="execute_complete",
                timeout=timedelta(seconds=remaining),
            )
        finally:
            self._end_wait()

    def build_trigger(self, context: Context) -> DeliveryTrigger:
        """The trigger that carries on this sensor's wait: the connection id and a source of a few KB.

        A source too big for the trigger's kwargs goes to XCom pages of this task instance first; the
        trigger writes the outcomes to pages of this task instance too (``outcome_pages``).

        :param context: the task context (its ``ti`` holds the pages).
        """
        wait = self._start_wait()
        target = PageTarget.from_ti(context.get("ti"))
        return DeliveryTrigger(
            service=self.service,
            conn_id=self._conn_id(),
            source=for_trigger(wait.source, wait.awaited, context.get("ti")).as_json(),
            policy=asdict(self.policy),
            poll_interval=self.poke_interval,
            lookback=self._lookback(),
            max_consecutive_errors=self.max_consecutive_errors,
            outcome_pages=target.as_json() if target is not None else None,
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Validate the trigger's event; return the gate's result or fail loudly.

        The event carries the bounded result (the trigger wrote every outcome to pages already); an
        event with every outcome inline (a trigger without a task instance to write to, or one of an
        earlier version) is summed up here, its outcomes written to pages of this task instance.
        """
        if not isinstance(event, dict) or event.get("status") not in EVENT_STATES:
            raise MailProviderError(f"unexpected event from DeliveryTrigger: {event!r}")
        if event["status"] == "error":
            self._end_with(error_from_event(event))
        result, outcomes = event.get("result"), event.get("outcomes")
        if not is_summary(result):
            if not isinstance(outcomes, dict):
                raise MailProviderError(f"DeliveryTrigger event without outcomes: {event!r}")
            result = finish(event["status"], str(event.get("message")), outcomes, context.get("ti"))
        self.log.info(
            "%s delivery after %s poll(s) in the triggerer: %s",
            self.service,
            event.get("polls"),
            event.get("message"),
        )
        if event["status"] == "failure":
            self._fail(str(event.get("message")), result)
        return result

    def _fail(self, message: str, result: dict[str, Any]) -> None:
        """Fail with the listed outcomes and every listed failure (all of them for a small batch)."""
        outcomes = {**result["outcomes"], **result["failures"]}
        self._end_with(DeliveryFailedError(message, outcomes=outcomes))

    def _end_with(self, err: MailProviderError) -> None:
        """End the wait with ``err``, or skip the task under ``soft_fail``."""
        if self.soft_fail:
            raise AirflowSkipException(f"soft_fail: {type(err).__name__}: {err}") from err
        raise err

    def _conn_id(self) -> str:
        raise NotImplementedError


class Sender25DeliverySensor(_DeliverySensor):
    """Wait until Sender25 messages are delivered (``Sent``); fail fast on HardFail/Bounced/HoldCancelled.

    .. code-block:: python

        send = Sender25SendEmailOperator(task_id="send_invoice", ...)
        Sender25DeliverySensor(task_id="wait_delivered", messages=send.output, bounce_grace_period=300)

    XCom: the gate's result (:class:`~airflow_provider_mail.xcom.DeliveryGateResult`): counts per
    status, the first failures and outcomes, and where every outcome is
    (:func:`~airflow_provider_mail.xcom.read_gate_outcomes` reads them all).

    :param messages: a message id, a list of ids, or a send operator's XCom as is (templated).
    :param sender25_conn_id: the connection that sent them: ids belong to one mail server (templated).
    """

    template_fields: Sequence[str] = ("messages", "sender25_conn_id")
    kind = Sender25Messages

    def __init__(
        self, *, messages: Any, sender25_conn_id: str = Sender25Hook.default_conn_name, **kwargs: Any
    ):
        super().__init__(**kwargs)
        self.messages = messages
        self.sender25_conn_id = sender25_conn_id

    def _conn_id(self) -> str:
        return self.sender25_conn_id


class XmailerDeliverySensor(_DeliverySensor):
    """Wait until xmailer deliveries show in the report as delivered; one report request per poke.

    A message not yet in the report (refreshed about every 15 minutes) is ``pending``, never a failure.

    :param messages: the xmailer send operator's XCom, queue ids, or ``(sender, recipient, sent_after)``
        triples / ``{"sender", "recipient", "sent_after"}`` dicts (templated).
    :param lookback: seconds of report to read when no time can be derived from the messages.
    :param xmailer_conn_id: the xmailer connection (templated).
    """

    template_fields: Sequence[str] = ("messages", "xmailer_conn_id")
    kind = XmailerMessages

    def __init__(
        self,
        *,
        messages: Any,
        lookback: float = 86400.0,
        xmailer_conn_id: str = XmailerReportHook.default_conn_name,
        **kwargs: Any,
    ):
        kwargs.setdefault("poke_interval", 120.0)
        super().__init__(**kwargs)
        self.messages = messages
        self.lookback = lookback
        self.xmailer_conn_id = xmailer_conn_id

    def _conn_id(self) -> str:
        return self.xmailer_conn_id

    def _lookback(self) -> float:
        return float(self.lookback)
