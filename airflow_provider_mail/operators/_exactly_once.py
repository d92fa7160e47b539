"""Exactly once across tries: the send operators consult the send ledger before they send.

A normal run claims the ledger for its try, marks the send ``sending`` (then checks that no newer
try has claimed it: :class:`~airflow_provider_mail.exceptions.SendLedgerFenced`), sends, settles
the row with the ids (or drops it when the error says nothing went out), and marks the try ended. A
later try of the same task instance then:

* finds ``accepted``: does not send; returns the earlier result and logs ``sent by try N``;
* finds ``sending`` (the earlier try died during the round trip): does not send; raises
  :class:`AmbiguousSendError` naming the trace and where to look, unless
  ``on_unknown_outcome="resend"``;
* finds a record of an earlier *generation* (the task instance was cleared after a try that
  ended): sends again (see :mod:`airflow_provider_mail._ledger.record` for the rule).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_mail._compat import BaseOperator
from airflow_provider_mail._ledger import (
    MESSAGE_ROW,
    Action,
    Attempt,
    LedgerRow,
    RowState,
    decide,
    open_ledger,
)
from airflow_provider_mail._shared.task_context import TRACE_HEADER
from airflow_provider_mail.exceptions import (
    AmbiguousSendError,
    MailConfigurationError,
    SendLedgerUnavailable,
    SendOutcome,
    WentOut,
    send_outcome_of,
)

if TYPE_CHECKING:
    from airflow_provider_mail._compat import Context

OnUnknownOutcome = Literal["fail", "resend"]
ON_UNKNOWN_OUTCOME_CHOICES = ("fail", "resend")

WHERE_TO_LOOK = {
    "sender25": "search the Sender25 panel's messages for the header {header}: {trace}{message_id}",
    "xmailer": (
        "look in the xmailer report (XmailerReportOperator or report.php) for sender {mail_from}, "
        "recipients {recipients}, from {started_at}{message_id} (header {header}: {trace})"
    ),
}


@dataclass
class PreparedSend:
    """A send that is ready to go: what the ledger records about it, and the call that sends it.

    :param service: ``"sender25"`` or ``"xmailer"``.
    :param trace: the ``X-Airflow-Trace`` value the message carries.
    :param send: performs the send and returns the XCom (ids only).
    :param message_id: the Message-ID, when known before the answer.
    :param mail_from: the sender address.
    :param recipients: the recipients as given.
    """

    service: str
    trace: str
    send: Callable[[], dict[str, Any]]
    message_id: str | None = None
    mail_from: str | None = None
    recipients: list[str] = field(default_factory=list)

    def ledger_row(self, try_number: int | None) -> LedgerRow:
        """The ``sending`` row of this send.

        :param try_number: the try that sends it.
        """
        info = {
            "service": self.service,
            "trace": self.trace,
            "message_id": self.message_id,
            "mail_from": self.mail_from,
            "recipients": list(self.recipients),
            "started_at": datetime.now(timezone.utc).isoformat(),
        }
        return LedgerRow(MESSAGE_ROW, 0, "", RowState.SENDING.value, int(try_number or 0), None, info)


def outcome_result(outcome: SendOutcome) -> dict[str, Any]:
    """The ids a send that raised after some recipients were accepted leaves (its ledger result).

    :param outcome: what went out.
    """
    return {
        "queue_id": outcome.queue_id,
        "message_id": outcome.message_id,
        "accepted": list(outcome.accepted),
        "refused": {rcpt: list(reply) for rcpt, reply in outcome.refused.items()},
    }


def checked_on_unknown_outcome(value: Any) -> OnUnknownOutcome:
    """The ``on_unknown_outcome`` argument, checked when the DAG is parsed.

    :param value: ``"fail"`` or ``"resend"``.
    """
    if value not in ON_UNKNOWN_OUTCOME_CHOICES:
        raise MailConfigurationError(f"on_unknown_outcome must be 'fail' or 'resend', got {value!r}")
    return value  # type: ignore[no-any-return]


def explain_ambiguous(error: AmbiguousSendError, trace: str) -> AmbiguousSendError:
    """Add the trace header to the hook's ambiguous-send error, so the user can find the message.

    :param error: the hook's error.
    :param trace: the ``X-Airflow-Trace`` value of this task instance.
    """
    return AmbiguousSendError(
        f"{error} Look for the header {TRACE_HEADER}: {trace}. This task is not retried automatically; "
        "clear it to send again.",
        service=error.service,
        recipients=error.recipients,
        http_status=error.http_status,
    )


def unknown_outcome_error(row: dict[str, Any], where: str) -> AmbiguousSendError:
    """The error of a try that finds an earlier try's send without an answer.

    :param row: the earlier try's ``sending`` row.
    :param where: where the ledger record is.
    """
    service = str(row.get("service") or "")
    message_id = f" or Message-ID <{row['message_id']}>" if row.get("message_id") else ""
    look = WHERE_TO_LOOK.get(
        service, "search the service for the header {header}: {trace}{message_id}"
    ).format(
        header=TRACE_HEADER,
        trace=row.get("trace"),
        message_id=message_id,
        mail_from=row.get("mail_from"),
        recipients=row.get("recipients"),
        started_at=row.get("started_at"),
    )
    return AmbiguousSendError(
        f"try {row.get('try_number')} sent this message to {service or 'the service'} and died before the "
        f"answer was recorded (killed, timed out or lost during the request), so it may or may not have "
        f"been accepted. Not sending again. To find out, {look}. If it was not sent, clear this task "
        f"instance to send again (or set on_unknown_outcome='resend'). Ledger record: {where}.",
        service=service,
        recipients=[str(r) for r in row.get("recipients") or []],
    )


def recipient_list(*values: str | Iterable[str] | None) -> list[str]:
    """Recipients as given (strings or lists), flattened into one list of strings, for the ledger.

    :param values: ``to``, ``cc``, ``bcc``… as the task received them.
    """
    listed: list[str] = []
    for value in values:
        if value is None:
            continue
        listed.extend([value] if isinstance(value, str) else [str(item) for item in value])
    return listed


class SendOnceOperator(BaseOperator):
    """Base of the send operators: sends at most once per task instance across tries.

    :param on_unknown_outcome: what a try does when an earlier try died while its send was in
        flight: ``"fail"`` (default) raises :class:`AmbiguousSendError` naming the trace and where
        to look; ``"resend"`` sends again (a duplicate if the first one was accepted).
    :param ledger: where send records live: ``None`` (``[mail_provider] send_ledger``, else
        ``"default"``: the task state store on Airflow 3.3+, Variables before), ``"variable"``,
        ``"task_state_store"``, an object-storage URL (``"s3://bucket/prefix"``,
        ``"file:///var/lib/mail-ledger"``) or ``"off"`` (no protection across tries).
    """

    def __init__(
        self,
        *,
        on_unknown_outcome: OnUnknownOutcome = "fail",
        ledger: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.on_unknown_outcome = checked_on_unknown_outcome(on_unknown_outcome)
        self.ledger = ledger

    def send_once(self, context: Context, prepare: Callable[[], PreparedSend]) -> dict[str, Any]:
        """Send unless an earlier try of this task instance already did; return the XCom.

        :param context: the task context.
        :param prepare: renders and validates the message (no network) and returns the send.
        """
        ledger = open_ledger(context, self.ledger)
        if ledger is None:
            return _send(prepare())
        ti = context.get("ti")
        attempt = ledger.begin(
            max_tries=getattr(ti, "max_tries", None), try_number=getattr(ti, "try_number", None)
        )
        try:
            result = self._send_once(ledger.where, attempt, prepare)
        except BaseException as err:
            attempt.end(err)
            raise
        attempt.end()
        return result

    def _send_once(self, where: str, attempt: Attempt, prepare: Callable[[], PreparedSend]) -> dict[str, Any]:
        earlier = attempt.earlier.find(MESSAGE_ROW, 0)
        action = decide(earlier)
        if action is Action.RETURN_RESULT and earlier is not None:
            self.log.info(
                "Not sending again: this message was sent by try %s (%s); returning that try's result. "
                "Ledger record: %s",
                earlier.try_number,
                (earlier.info or {}).get("trace"),
                where,
            )
            return dict(earlier.result or {})
        if action is Action.UNKNOWN_OUTCOME and earlier is not None:
            if self.on_unknown_outcome == "fail":
                raise unknown_outcome_error({**(earlier.info or {}), "try_number": earlier.try_number}, where)
            self.log.warning(
                "try %s's send has an unknown outcome; sending again because on_unknown_outcome='resend'",
                earlier.try_number,
            )
        prepared = prepare()
        row = prepared.ledger_row(attempt.try_number)
        self.log.info("Send ledger record: %s", where)
        chunk = attempt.mark([row])
        try:
            result = _send(prepared)
        except BaseException as err:
            outcome = send_outcome_of(err)
            if outcome.went_out is WentOut.NOTHING:
                self._settle(attempt, chunk, [], "a refused send (a retry will fail)")
            elif outcome.went_out is WentOut.SOME:
                self._settle(
                    attempt, chunk, [_accepted(row, outcome_result(outcome))], "a partly refused send"
                )
            raise
        self._settle(attempt, chunk, [_accepted(row, result)], "the send")
        return result

    def _settle(self, attempt: Attempt, chunk: int, rows: list[LedgerRow], what: str) -> None:
        try:
            attempt.settle(chunk, rows)
        except SendLedgerUnavailable as err:
            # The answer is in; failing now would only make a retry report an unknown outcome.
            self.log.warning("The ledger could not record %s: %s", what, err)


def _accepted(row: LedgerRow, result: dict[str, Any]) -> LedgerRow:
    info = {**(row.info or {}), "accepted_at": datetime.now(timezone.utc).isoformat()}
    return LedgerRow(
        row.key, row.index, row.recipients_key, RowState.ACCEPTED.value, row.try_number, result, info
    )


def _send(prepared: PreparedSend) -> dict[str, Any]:
    try:
        return prepared.send()
    except AmbiguousSendError as err:
        raise explain_ambiguous(err, prepared.trace) from err
