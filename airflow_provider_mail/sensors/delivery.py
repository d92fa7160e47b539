"""Delivery sensors: wait until sent messages show as delivered; fail fast when one bounced.

Both sensors poke once on the worker and, when ``deferrable`` (default from ``[operators]
default_deferrable``), hand the rest of the wait, with the sensor's remaining timeout, to
:class:`~airflow_provider_mail.triggers.delivery.DeliveryTrigger`. ``poke()`` and the trigger apply
the same classification, policy and polling schedule (:mod:`airflow_provider_mail._delivery.schedule`):

- **poke mode**: the sensor instance keeps the schedule between pokes; each poke reads only the due
  messages, and Airflow's sleep between pokes is stretched to the earliest next-poll time.
- **reschedule mode**: each poke runs in a new process, so nothing is kept: every poke reads every
  message, then the task is rescheduled for the earliest next-poll time of the batch (never sooner
  than ``poke_interval``, never past the timeout) instead of after ``poke_interval``.
- **deferrable**: the first poke reads every message; the trigger then keeps per-message next-poll
  times and sleeps until the earliest one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_mail._bulk.results import accepted_sends
from airflow_provider_mail._compat import (
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    default_deferrable,
)
from airflow_provider_mail._delivery.checks import Sender25DeliveryCheck, XmailerDeliveryCheck
from airflow_provider_mail._delivery.errors import (
    MAX_CONSECUTIVE_TRANSIENT_ERRORS,
    TransientStreak,
    error_from_event,
)
from airflow_provider_mail._delivery.policy import (
    DeliveryPolicy,
    Verdict,
    sender25_message_ids,
    xmailer_targets,
)
from airflow_provider_mail._delivery.schedule import DeliveryWatch
from airflow_provider_mail.exceptions import DeliveryFailedError, MailProviderError
from airflow_provider_mail.hooks.sender25 import Sender25Hook
from airflow_provider_mail.hooks.xmailer import XmailerReportHook
from airflow_provider_mail.triggers.delivery import DeliveryTrigger

if TYPE_CHECKING:
    from airflow_provider_mail._compat import Context

EVENT_STATES = ("success", "failure", "error")


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
    service = ""
    #: Epoch seconds now, for the schedule (a test may put a simulated clock here).
    clock: Callable[[], float] = staticmethod(time.time)

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
        self._schedule: DeliveryWatch | None = None

    # subclasses build the check from their (rendered) arguments
    def _check(self) -> Sender25DeliveryCheck | XmailerDeliveryCheck:
        raise NotImplementedError

    def _trigger_messages(self) -> dict[str, str | None] | list[dict[str, Any]]:
        raise NotImplementedError

    def _keys(self) -> list[str]:
        raise NotImplementedError

    def _watch(self) -> DeliveryWatch:
        """This wait's schedule; kept on the instance, so it lives as long as the sensor's process."""
        if self._schedule is None:
            self._schedule = DeliveryWatch(self._keys(), self.policy, self.poke_interval)
        return self._schedule

    def _verdict(self) -> Verdict | None:
        """One check of the due messages under the gate's error rule.

        ``None`` when a transient failure, or nothing being due, keeps it waiting.
        """
        watch = self._watch()
        now = self.clock()
        due = watch.due(now)
        if not due:
            return None
        try:
            outcomes = self._check().check(due)
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
        wake = self._schedule.next_wake() if self._schedule is not None else None
        if wake is None:
            return base
        remaining = max(base, float(self.timeout) - float(run_duration()))
        return max(base, min(wake - self.clock(), remaining))

    def poke(self, context: Context) -> PokeReturnValue | bool:
        """Check once: success returns the outcomes, failure raises, anything else keeps waiting."""
        verdict = self._verdict()
        if verdict is None:
            return False
        if verdict.state == "failure":
            self._fail(verdict.message, verdict.xcom())
        return PokeReturnValue(is_done=True, xcom_value=verdict.xcom()) if verdict.done else False

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        started = time.monotonic()
        verdict = self._verdict()
        if verdict is not None and verdict.state == "failure":
            self._fail(verdict.message, verdict.xcom())
        if verdict is not None and verdict.done:
            return verdict.xcom()
        remaining = max(1.0, self.timeout - (time.monotonic() - started))
        self.defer(
            trigger=self.build_trigger(),
            method_name="execute_complete",
            timeout=timedelta(seconds=remaining),
        )

    def build_trigger(self) -> DeliveryTrigger:
        """The trigger that carries on this sensor's wait (ids and connection id only, no secret)."""
        return DeliveryTrigger(
            service=self.service,
            conn_id=self._conn_id(),
            messages=self._trigger_messages(),
            policy=asdict(self.policy),
            poll_interval=self.poke_interval,
            max_consecutive_errors=self.max_consecutive_errors,
            **self._trigger_extra(),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Validate the trigger's event; return the outcomes or fail loudly."""
        if not isinstance(event, dict) or event.get("status") not in EVENT_STATES:
            raise MailProviderError(f"unexpected event from DeliveryTrigger: {event!r}")
        if event["status"] == "error":
            self._end_with(error_from_event(event))
        outcomes = event.get("outcomes")
        if not isinstance(outcomes, dict):
            raise MailProviderError(f"DeliveryTrigger event without outcomes: {event!r}")
        self.log.info(
            "%s delivery after %s poll(s) in the triggerer: %s",
            self.service,
            event.get("polls"),
            event.get("message"),
        )
        if event["status"] == "failure":
            self._fail(str(event.get("message")), outcomes)
        return outcomes

    def _fail(self, message: str, outcomes: dict[str, Any]) -> None:
        self._end_with(DeliveryFailedError(message, outcomes=outcomes))

    def _end_with(self, err: MailProviderError) -> None:
        """End the wait with ``err``, or skip the task under ``soft_fail``."""
        if self.soft_fail:
            raise AirflowSkipException(f"soft_fail: {type(err).__name__}: {err}") from err
        raise err

    def _conn_id(self) -> str:
        raise NotImplementedError

    def _trigger_extra(self) -> dict[str, Any]:
        return {}


class Sender25DeliverySensor(_DeliverySensor):
    """Wait until Sender25 messages are delivered (``Sent``); fail fast on HardFail/Bounced/HoldCancelled.

    .. code-block:: python

        send = Sender25SendEmailOperator(task_id="send_invoice", ...)
        Sender25DeliverySensor(task_id="wait_delivered", messages=send.output, bounce_grace_period=300)

    XCom: ``{id: {"status", "raw_status", "at", "detail", "recipient"}}`` for every message.

    :param messages: a message id, a list of ids, or a send operator's XCom as is (templated).
    :param sender25_conn_id: the connection that sent them: ids belong to one mail server (templated).
    """

    template_fields: Sequence[str] = ("messages", "sender25_conn_id")
    service = "sender25"

    def __init__(
        self, *, messages: Any, sender25_conn_id: str = Sender25Hook.default_conn_name, **kwargs: Any
    ):
        super().__init__(**kwargs)
        self.messages = messages
        self.sender25_conn_id = sender25_conn_id

    def _ids(self) -> dict[str, str | None]:
        return sender25_message_ids(accepted_sends(self.messages))

    def _check(self) -> Sender25DeliveryCheck:
        return Sender25DeliveryCheck(self.sender25_conn_id, self._ids())

    def _trigger_messages(self) -> dict[str, str | None]:
        return self._ids()

    def _keys(self) -> list[str]:
        return list(self._ids())

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
    service = "xmailer"

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

    def _check(self) -> XmailerDeliveryCheck:
        return XmailerDeliveryCheck(
            self.xmailer_conn_id, xmailer_targets(accepted_sends(self.messages)), lookback=self.lookback
        )

    def _trigger_messages(self) -> list[dict[str, Any]]:
        return [asdict(target) for target in xmailer_targets(accepted_sends(self.messages))]

    def _keys(self) -> list[str]:
        return [target.key for target in xmailer_targets(accepted_sends(self.messages))]

    def _conn_id(self) -> str:
        return self.xmailer_conn_id

    def _trigger_extra(self) -> dict[str, Any]:
        return {"lookback": self.lookback}
