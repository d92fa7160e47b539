"""Operators for xmailer: send through its SMTP relay, and export its delivery report."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from airflow_provider_mail._compat import BaseOperator
from airflow_provider_mail._shared.mime import build_email_message
from airflow_provider_mail._shared.task_context import TRACE_HEADER
from airflow_provider_mail._xmailer.report_parser import Outcome
from airflow_provider_mail.exceptions import MailValidationError
from airflow_provider_mail.hooks.xmailer import XmailerReportHook, XmailerSmtpHook
from airflow_provider_mail.operators._compose import COMPOSE_TEMPLATE_FIELDS, ComposeEmailOperator
from airflow_provider_mail.operators._exactly_once import PreparedSend

if TYPE_CHECKING:
    from airflow_provider_mail._compat import Context

CSV_COLUMNS = (
    "queue_id",
    "sender",
    "recipient",
    "delivered_at",
    "outcome",
    "smtp_code",
    "enhanced_code",
    "status_text",
)


class XmailerSendEmailOperator(ComposeEmailOperator):
    """Send one message through the xmailer SMTP relay and return its queue id.

    Takes the same arguments as :class:`~airflow_provider_mail.operators.sender25.Sender25SendEmailOperator`
    (minus the Postal-only ``tag``/``bounce``). Returns (XCom)
    ``{"queue_id": str | None, "accepted": [...], "refused": {rcpt: "code text"}, "sent_at": iso8601,
    "message_id": str}``; the queue id matches the report's rows exactly. Sent at most once per task
    instance across tries (README "Exactly once"); clearing the task instance sends again.

    :param fail_on_refused: fail the task when any recipient is refused (the others were still sent);
        by default only a send that reached nobody fails. Refusals are always in the XCom and the log.
    :param xmailer_conn_id: the xmailer connection (templated).
    """

    template_fields: Sequence[str] = (*COMPOSE_TEMPLATE_FIELDS, "xmailer_conn_id")

    def __init__(
        self,
        *,
        fail_on_refused: bool = False,
        xmailer_conn_id: str = XmailerSmtpHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.fail_on_refused = fail_on_refused
        self.xmailer_conn_id = xmailer_conn_id

    @cached_property
    def hook(self) -> XmailerSmtpHook:
        """The SMTP hook (created on first use)."""
        return XmailerSmtpHook(xmailer_conn_id=self.xmailer_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        return self.send_once(context, lambda: self.prepare_send(context))

    def prepare_send(self, context: Context) -> PreparedSend:
        """Render and build the message (no network); return the send for the ledger to run.

        :param context: the task context.
        """
        arguments = self.message_arguments(context, connection_from=self.hook.settings.from_email)
        built = build_email_message(**arguments)

        def send() -> dict[str, Any]:
            result = self.hook.send(built, fail_on_refused=self.fail_on_refused)
            if result["refused"]:
                self.log.warning(
                    "xmailer refused %d recipient(s): %s", len(result["refused"]), result["refused"]
                )
            self.log.info("xmailer queued %s for %s", result["queue_id"], result["accepted"])
            return result

        return PreparedSend(
            service="xmailer",
            trace=arguments["headers"][TRACE_HEADER],
            send=send,
            message_id=built.message_id,
            mail_from=built.mail_from,
            recipients=list(built.recipients),
        )


class XmailerReportOperator(BaseOperator):
    """Export xmailer's delivery report for a window to a file, streaming, and return counts per outcome.

    The window defaults to the run's data interval; a run without one (a manual run of an unscheduled
    DAG) exports the 24 hours before the task runs.

    :param output_path: a local path or an object-storage URL (``s3://…``) ending in ``.csv`` or ``.jsonl``
        (templated).
    :param start: window start: aware datetime or ISO 8601 string (templated).
    :param end: window end (templated).
    :param output_format: ``"csv"`` or ``"jsonl"``; taken from the file suffix when ``None``.
    :param status: filter on the service: ``"delivered"`` or ``"failed"`` (templated).
    :param recipient: only rows to this address (templated).
    :param sender: only rows from this address (templated).
    :param strict: fail on the first malformed report line instead of counting it.
    :param xmailer_conn_id: the xmailer connection (templated).
    """

    template_fields: Sequence[str] = (
        "output_path",
        "start",
        "end",
        "status",
        "recipient",
        "sender",
        "xmailer_conn_id",
    )
    ui_color = "#fdf3e1"

    def __init__(
        self,
        *,
        output_path: str,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        output_format: str | None = None,
        status: str | None = None,
        recipient: str | None = None,
        sender: str | None = None,
        strict: bool = False,
        xmailer_conn_id: str = XmailerReportHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.output_path = output_path
        self.start = start
        self.end = end
        self.output_format = output_format
        self.status = status
        self.recipient = recipient
        self.sender = sender
        self.strict = strict
        self.xmailer_conn_id = xmailer_conn_id

    @cached_property
    def hook(self) -> XmailerReportHook:
        """The report hook (created on first use)."""
        return XmailerReportHook(xmailer_conn_id=self.xmailer_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        start, end = self._window(context)
        output_format = self._format()
        report = self.hook.get_report(
            start, end, status=self.status, recipient=self.recipient, sender=self.sender, strict=self.strict
        )
        counts: Counter[str] = Counter()
        with _open_text(self.output_path) as handle:
            write = _row_writer(handle, output_format)
            for row in report:
                write(row.as_dict())
                counts[row.outcome.value] += 1
        result = {
            "path": str(self.output_path),
            "format": output_format,
            "window": {"start": report.window.start.isoformat(), "end": report.window.end.isoformat()},
            "rows": sum(counts.values()),
            "outcomes": {outcome.value: counts.get(outcome.value, 0) for outcome in Outcome},
            "malformed": report.stats.malformed,
        }
        self.log.info("xmailer report exported: %s", result)
        return result

    def _window(self, context: Any) -> tuple[datetime | str, datetime | str]:
        if self.start or self.end:
            return self.start or context.get("data_interval_start"), self.end or context.get(
                "data_interval_end"
            )
        start, end = context.get("data_interval_start"), context.get("data_interval_end")
        if start is None or end is None or end <= start:
            now = datetime.now(timezone.utc)
            return now - timedelta(days=1), now
        return start, end

    def _format(self) -> str:
        output_format = self.output_format or Path(str(self.output_path)).suffix.lstrip(".").lower()
        if output_format not in ("csv", "jsonl"):
            raise MailValidationError(
                f"`output_format` must be csv or jsonl (or the suffix of output_path), got {output_format!r}",
                code="InvalidArgument",
            )
        return output_format


@contextmanager
def _open_text(target: str) -> Iterator[IO[str]]:
    """Open a local path or an object-storage URL for writing UTF-8 text."""
    if "://" in str(target):
        from airflow_provider_mail._compat import ObjectStoragePath

        raw = ObjectStoragePath(str(target)).open("wb")
    else:
        path = Path(target).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        raw = path.open("wb")
    with raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
        yield text


def _row_writer(handle: IO[str], output_format: str) -> Any:
    if output_format == "jsonl":
        return lambda row: handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    return writer.writerow
