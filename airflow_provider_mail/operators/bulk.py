"""Bulk sending: one message per row of a list or a CSV/JSONL file, through Sender25 or xmailer.

**Concurrency: threads, 8 by default.** Both hooks are synchronous (requests for Sender25, smtplib
for xmailer; SMTP has no async client here), so a small pool of worker threads, each holding its own
pooled client, gives real connection reuse with no second code path for sending. A send spends its
time waiting on the network, so threads overlap round trips well; 8 matches the hooks' own keep-alive
pool (``POOL_SIZE``) and the async driver's cap (``MAX_CONNECTIONS``), keeps a shared relay or API
far from its per-client limits, and gives ``8 / round trip`` messages per second (160/s at 50 ms).
Raise ``max_concurrency`` for a far-away API, or set ``rate_limit`` to stay under the service's.

**Pacing.** One :class:`~airflow_provider_mail._bulk.gate.SendGate` per batch: each send waits its
turn (the optional ``rate_limit`` in messages per second), and when a hook waits out a 429 (its
``Retry-After``) or a retryable failure before retrying, *every* sender waits with it.

**Exactly once.** One send-ledger record per task instance with one row per data row (key
``"<index>"``), written in chunks: the chunk's rows are marked ``sending`` in one write before the
chunk goes out, and ``accepted`` (with their ids) in one write after. A retry skips accepted rows,
reports rows still ``sending`` (the try died during that chunk) as *unknown* and does not send them
(unless ``on_unknown_outcome="resend"``), and sends the rest; a clear sends everything again.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jinja2

from airflow_provider_mail._bulk.gate import SendGate
from airflow_provider_mail._bulk.progress import DEFAULT_PROGRESS_INTERVAL, Progress
from airflow_provider_mail._bulk.render import RowTemplate
from airflow_provider_mail._bulk.results import ResultsWriter, default_results_path, describe_error
from airflow_provider_mail._bulk.rows import InvalidRow, RowSource
from airflow_provider_mail._compat import BaseOperator
from airflow_provider_mail._ledger import (
    Action,
    Attempt,
    LedgerRow,
    RowState,
    content_key,
    decide,
    open_ledger,
    recipients_key,
)
from airflow_provider_mail._ledger.earlier import EarlierRows
from airflow_provider_mail._sender25.payload import build_send_message_payload
from airflow_provider_mail._shared.addresses import validated_headers
from airflow_provider_mail._shared.attachments import DEFAULT_MAX_ATTACHMENT_BYTES, load_attachments
from airflow_provider_mail._shared.mime import build_email_message
from airflow_provider_mail._shared.task_context import TRACE_HEADER, resolve_from_email, trace_header_value
from airflow_provider_mail.exceptions import (
    AmbiguousSendError,
    BulkSendFailed,
    MailConfigurationError,
    MailProviderError,
    MailValidationError,
    Sender25AuthError,
    SendLedgerRowChanged,
    SendLedgerUnavailable,
    ServiceAskedToWait,
    WentOut,
    XmailerSmtpAuthError,
    send_outcome_of,
)
from airflow_provider_mail.hooks.sender25 import Sender25Hook
from airflow_provider_mail.hooks.xmailer import XmailerSmtpHook
from airflow_provider_mail.operators._exactly_once import (
    OnUnknownOutcome,
    checked_on_unknown_outcome,
    outcome_result,
)

if TYPE_CHECKING:
    from airflow_provider_mail._compat import Context

#: Worker threads (and pooled clients) by default: see the module docstring.
DEFAULT_MAX_CONCURRENCY = 8
#: Up to this many accepted messages, the XCom carries their ids; above, only the results file.
DEFAULT_XCOM_IDS_LIMIT = 1000
#: Failed rows named in the XCom and in the error (all of them are in the results file).
NAMED_FAILURES = 20
#: Errors that every following row would meet too: the batch stops at once.
BATCH_FATAL_ERRORS: tuple[type[BaseException], ...] = (
    MailConfigurationError,
    Sender25AuthError,
    XmailerSmtpAuthError,
    ServiceAskedToWait,
)
BULK_TEMPLATE_FIELDS: tuple[str, ...] = ("rows", "from_email", "sender", "reply_to", "results_path")
#: Per-row fields: rendered for each row (with ``row``), not by Airflow before ``execute``.
PER_ROW_FIELDS: tuple[str, ...] = (
    "to",
    "cc",
    "bcc",
    "subject",
    "plain_body",
    "html_body",
    "headers",
    "attachments",
)


def auto_chunk_size(total: int | None, concurrency: int) -> int:
    """Rows per ledger write: at least 100 (and 12 per worker), at most 1,000, about 50 writes a batch.

    Workers idle while a chunk's last sends finish, so a chunk is at least a dozen rounds of sends.

    :param total: rows in the batch, when known.
    :param concurrency: worker threads.
    """
    return max(100, 12 * concurrency, min(1000, (total or 0) // 50))


@dataclass
class PreparedRow:
    """A rendered, validated row, ready to send.

    :param index: the row's position in the source (0-based).
    :param recipients: every recipient (to, cc, bcc), for results and the ledger.
    :param trace: the row's ``X-Airflow-Trace`` value.
    :param send: sends it with a pooled client; returns the ids.
    """

    index: int
    recipients: list[str]
    trace: str
    send: Callable[[Any], dict[str, Any]]
    #: The row's key in the ledger (what it is) and its recipients key.
    ledger_key: str = ""
    recipients_key: str = ""


@dataclass
class RowOutcome:
    """What happened to a row: ``accepted``, ``sent_earlier``, ``failed`` or ``unknown``."""

    index: int
    status: str
    recipients: list[str] = field(default_factory=list)
    result: dict[str, Any] | None = None
    error: BaseException | None = None
    try_number: int | None = None
    #: What went out, for a row just sent.
    went_out: WentOut | None = None

    def as_json(self) -> dict[str, Any]:
        """The row's line in the results file."""
        line: dict[str, Any] = {"row": self.index, "status": self.status, "to": self.recipients}
        if self.result is not None:
            line.update(self.result)
        if self.error is not None:
            line.update(describe_error(self.error))
        if self.try_number is not None:
            line["try_number"] = self.try_number
        return line


class _BulkSendOperator(BaseOperator):
    """Base of the bulk send operators: rows, per-row templates, pacing, ledger, results, XCom."""

    template_fields: Sequence[str] = BULK_TEMPLATE_FIELDS
    ui_color = "#e8f1fb"
    service = ""

    def __init__(
        self,
        *,
        rows: Any,
        subject: str | None = None,
        plain_body: str | None = None,
        html_body: str | None = None,
        to: Any = None,
        cc: Any = None,
        bcc: Any = None,
        from_email: str | None = None,
        sender: str | None = None,
        reply_to: str | None = None,
        headers: Mapping[str, Any] | None = None,
        attachments: Iterable[Any] | str | None = None,
        max_attachment_size: int | None = DEFAULT_MAX_ATTACHMENT_BYTES,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        rate_limit: float | None = None,
        max_failed_rows: int = 0,
        results_path: str | None = None,
        progress_interval: float = DEFAULT_PROGRESS_INTERVAL,
        ledger_chunk_size: int | None = None,
        xcom_ids_limit: int = DEFAULT_XCOM_IDS_LIMIT,
        on_unknown_outcome: OnUnknownOutcome = "fail",
        ledger: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise MailConfigurationError(f"max_concurrency must be an int >= 1, got {max_concurrency!r}")
        if max_failed_rows < 0:
            raise MailConfigurationError(f"max_failed_rows must be >= 0, got {max_failed_rows!r}")
        self.rows = rows
        self.subject = subject
        self.plain_body = plain_body
        self.html_body = html_body
        self.to = to
        self.cc = cc
        self.bcc = bcc
        self.from_email = from_email
        self.sender = sender
        self.reply_to = reply_to
        self.headers = headers
        self.attachments = attachments
        self.max_attachment_size = max_attachment_size
        self.max_concurrency = max_concurrency
        self.rate_limit = rate_limit
        self.max_failed_rows = max_failed_rows
        self.results_path = results_path
        self.progress_interval = progress_interval
        self.ledger_chunk_size = ledger_chunk_size
        self.xcom_ids_limit = xcom_ids_limit
        self.on_unknown_outcome = checked_on_unknown_outcome(on_unknown_outcome)
        self.ledger = ledger

    # -- what a service says ----------------------------------------------------------------------
    def open_clients(self, count: int, gate: SendGate) -> list[Any]:
        """``count`` pooled clients whose retry waits go through ``gate``."""
        raise NotImplementedError

    def close_clients(self, clients: list[Any]) -> None:
        """Release the clients."""
        for client in clients:
            client.close()

    def connection_from_email(self, client: Any) -> str | None:
        """The connection's default sender."""
        raise NotImplementedError

    def prepare_row(self, index: int, arguments: dict[str, Any], context: Any) -> PreparedRow:
        """Validate a row's message (no network) and return its send; raise the named error.

        :param index: the row's index.
        :param arguments: the rendered message arguments.
        :param context: the task context plus ``row``.
        """
        raise NotImplementedError

    def extra_row_fields(self) -> tuple[str, ...]:
        """Per-row fields of this service besides :data:`PER_ROW_FIELDS`."""
        return ()

    def identity_extras(self) -> dict[str, Any]:
        """What else makes a row's message what it is, besides its rendered fields (row keys)."""
        return {
            "service": self.service,
            "from_email": self.from_email,
            "sender": self.sender,
            "reply_to": self.reply_to,
        }

    def add_to_xcom(self, xcom: dict[str, Any], index: int, result: dict[str, Any]) -> None:
        """Add an accepted row's ids to the XCom."""
        raise NotImplementedError

    # -- the batch --------------------------------------------------------------------------------
    def execute(self, context: Context) -> dict[str, Any]:
        source = RowSource(self.rows)
        total = source.count()
        ti = context.get("ti")
        ledger = open_ledger(context, self.ledger)
        attempt: Attempt | _NoLedger = (
            _NoLedger(getattr(ti, "try_number", None))
            if ledger is None
            else ledger.begin(
                max_tries=getattr(ti, "max_tries", None), try_number=getattr(ti, "try_number", None)
            )
        )
        try:
            xcom = self._send_batch(context, source, total, attempt)
        except BaseException as err:
            attempt.end(err)
            raise
        attempt.end()
        return xcom

    def _send_batch(
        self, context: Context, source: RowSource, total: int | None, attempt: Attempt | _NoLedger
    ) -> dict[str, Any]:
        gate = SendGate(self.rate_limit)
        results_path = str(self.results_path or default_results_path(context))
        chunk_size = self.ledger_chunk_size or auto_chunk_size(total, self.max_concurrency)
        progress = Progress(total, self.log, interval=self.progress_interval)
        self.log.info(
            "Bulk send of %s rows from %s through %s: %d worker(s), rate limit %s msg/s, ledger %s "
            "(written every %d rows; %d row(s) recorded by earlier tries), results %s",
            "?" if total is None else total,
            source.describe(),
            self.service,
            self.max_concurrency,
            self.rate_limit or "none",
            attempt.where,
            chunk_size,
            len(attempt.earlier),
            results_path,
        )
        clients = self.open_clients(self.max_concurrency, gate)
        pool: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for client in clients:
            pool.put(client)
        batch = _Batch(self, context, clients[0], attempt)
        fatal: BaseException | None = None
        try:
            with ResultsWriter(results_path) as writer:
                executor = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix=f"{self.task_id}-send")
                in_flight: _Chunk | None = None
                try:
                    # While one chunk is in flight, the next is rendered and validated on this thread;
                    # it is marked `sending` and sent only once the previous one is settled, so a try
                    # that dies leaves at most one chunk unknown.
                    for rows in _chunks(source, chunk_size):
                        to_send = [
                            p for p in (batch.triage(i, row, writer, progress) for i, row in rows) if p
                        ]
                        if in_flight is not None:
                            fatal = batch.settle(in_flight, writer, progress)
                            in_flight = None
                            self.after_chunk(progress)
                            if fatal is not None:
                                break
                        if to_send:
                            in_flight = batch.mark(to_send)
                            in_flight.futures = {
                                executor.submit(_send_one, prepared, pool, gate, batch.stop): prepared
                                for prepared in to_send
                            }
                        else:
                            self.after_chunk(progress)
                    if in_flight is not None:
                        fatal = batch.settle(in_flight, writer, progress)
                        in_flight = None
                        self.after_chunk(progress)
                except BaseException:
                    # execution_timeout, a kill signal turned exception, a bug: no row of the chunk
                    # starts now, and every answer already in hand is recorded before raising
                    executor.shutdown(wait=False, cancel_futures=True)
                    if in_flight is not None:
                        batch.settle(in_flight, writer, progress, partial=True)
                    raise
                finally:
                    executor.shutdown(wait=True)
        finally:
            self.close_clients(clients)
        progress.report(final=True)
        if gate.holds:
            self.log.info(
                "The service made the batch wait %d time(s), %.1f s in all (429 Retry-After or retries)",
                gate.holds,
                gate.held_seconds,
            )
        if fatal is not None:
            raise fatal
        return self._conclude(batch, progress, total, results_path, attempt.where)

    def after_chunk(self, progress: Progress) -> None:
        """Called after each chunk is settled in the ledger (a seam for tests and subclasses).

        :param progress: the counts so far.
        """

    def _conclude(
        self,
        batch: _Batch,
        progress: Progress,
        total: int | None,
        results_path: str,
        where: str,
    ) -> dict[str, Any]:
        counts = progress.counts
        accepted = counts["accepted"] + counts["sent_earlier"]
        bad = counts["failed"] + counts["unknown"]
        xcom: dict[str, Any] = {
            "counts": {
                "total": progress.done,
                "accepted": accepted,
                "sent_earlier": counts["sent_earlier"],
                "failed": counts["failed"],
                "unknown": counts["unknown"],
            },
            "results_path": results_path,
            "failed_rows": batch.named_failures,
            "ids_in_xcom": accepted <= self.xcom_ids_limit,
        }
        xcom.update(batch.ids if accepted <= self.xcom_ids_limit else self.empty_ids())
        if bad > self.max_failed_rows:
            shown = "; ".join(
                f"row {f['row']} {f['to']}: {f['error']} {f['code'] or ''} {f['text']}"
                for f in batch.named_failures
            )
            summary = (
                f"{bad} of {progress.done} rows were not sent (max_failed_rows={self.max_failed_rows}): "
                f"{counts['failed']} failed, {counts['unknown']} with an unknown outcome; "
                f"{accepted} accepted. "
                f"Every row's result is in {results_path}. First ones: {shown}"
            )
            if counts["unknown"]:
                raise AmbiguousSendError(
                    f"{summary}. Rows with an unknown outcome were sent by a try that died (or lost the "
                    "answer) and are NOT sent again: look them up in the service (header "
                    f"{TRACE_HEADER} ends with '; row=<index>'), then clear the task to send them again, "
                    "or set on_unknown_outcome='resend'. "
                    f"Ledger record: {where}.",
                    service=self.service,
                    recipients=batch.unknown_recipients,
                )
            raise BulkSendFailed(
                f"{summary}. A retry sends only the rows not accepted yet.",
                failed=counts["failed"],
                unknown=counts["unknown"],
                total=progress.done,
                results_path=results_path,
            )
        if bad:
            self.log.warning("%d row(s) not sent, within max_failed_rows=%d", bad, self.max_failed_rows)
        return xcom

    def empty_ids(self) -> dict[str, Any]:
        """The ids part of the XCom when there are too many ids for it."""
        raise NotImplementedError


class _NoLedger:
    """The ledger turned off (``ledger="off"``): nothing earlier, nothing recorded."""

    where = "off"

    def __init__(self, try_number: Any) -> None:
        self.try_number = int(try_number or 0)
        self.earlier = EarlierRows()
        self.earlier.seal()

    def mark(self, rows: list[LedgerRow]) -> int:
        return 0

    def settle(self, chunk: int, rows: list[LedgerRow]) -> None:
        pass

    def end(self, error: BaseException | None = None) -> None:
        pass


@dataclass
class _Chunk:
    """A chunk marked ``sending`` in the ledger, its sends in flight."""

    number: int
    rows: dict[int, LedgerRow]
    futures: dict[Future[RowOutcome], PreparedRow] = field(default_factory=dict)


class _Batch:
    """The running state of one batch: renders rows, keeps the ledger, collects the XCom ids."""

    def __init__(self, operator: _BulkSendOperator, context: Any, first_client: Any, attempt: Any):
        self.operator = operator
        self.context = context
        self.attempt = attempt
        self.try_number = attempt.try_number
        self.trace = trace_header_value(context)
        env = operator.get_template_env()
        self.templates = {
            name: RowTemplate(env, getattr(operator, name), name=name, files=name.endswith("_body"))
            for name in (*PER_ROW_FIELDS, *operator.extra_row_fields())
        }
        self.from_email = resolve_from_email(
            operator.from_email, operator.connection_from_email(first_client)
        )
        self.ids: dict[str, Any] = operator.empty_ids()
        self.accepted_for_ids = 0
        self.named_failures: list[dict[str, Any]] = []
        self.unknown_recipients: list[str] = []
        self.stop = _Stop()

    def triage(
        self, index: int, row: Mapping[str, Any] | InvalidRow, writer: ResultsWriter, progress: Progress
    ) -> PreparedRow | None:
        """Decide a row: sent by an earlier try, unknown, failed, or to send now (returned)."""
        outcome, prepared = self._triage(index, row)
        if outcome is not None:
            self.finish(outcome, writer, progress)
        return prepared

    def _triage(
        self, index: int, row: Mapping[str, Any] | InvalidRow
    ) -> tuple[RowOutcome | None, PreparedRow | None]:
        if isinstance(row, InvalidRow):
            return RowOutcome(index, "failed", error=row.error), None
        try:
            rendered = self.render(row)
        except MailProviderError as err:
            return RowOutcome(index, "failed", _recipients_of(row), error=err), None
        recipients = _recipients_of(rendered)
        key = content_key({**rendered, **self.operator.identity_extras()})
        rkey = recipients_key(recipients)
        earlier = self.attempt.earlier.find(key, index)
        action = decide(earlier)
        if action is Action.RETURN_RESULT and earlier is not None:
            return RowOutcome(
                index, "sent_earlier", recipients, dict(earlier.result or {}), try_number=earlier.try_number
            ), None
        if (
            action is Action.UNKNOWN_OUTCOME
            and earlier is not None
            and self.operator.on_unknown_outcome == "fail"
        ):
            error = AmbiguousSendError(
                f"try {earlier.try_number} sent row {index} (then row {earlier.index}) and died before its "
                "answer was recorded; not sent again",
                service=self.operator.service,
                recipients=recipients,
            )
            return RowOutcome(index, "unknown", recipients, error=error, try_number=earlier.try_number), None
        if earlier is None and (changed := self.attempt.earlier.changed_at(index, rkey)) is not None:
            changed_error = SendLedgerRowChanged(
                f"row {index} to {recipients} differs from the row try {changed.try_number} sent to the same "
                "recipients at this place (edited, or rendered differently); not sent, as it may be the "
                "same message. Restore the row to skip it, or clear the task instance to send the batch "
                "as a new request."
            )
            return RowOutcome(index, "failed", recipients, error=changed_error), None
        try:
            prepared = self.prepare(index, rendered)
        except MailProviderError as err:
            return RowOutcome(index, "failed", recipients, error=err), None
        prepared.ledger_key, prepared.recipients_key = key, rkey
        return None, prepared

    def render(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The row's per-row fields rendered; a template error is the row's named failure."""
        try:
            rendered = {name: template.render(self.context, row) for name, template in self.templates.items()}
        except jinja2.TemplateError as err:
            raise MailValidationError(f"a template of this row failed: {err}", code="TemplateError") from None
        for name in ("to", "cc", "bcc"):
            if getattr(self.operator, name) is None:
                rendered[name] = row.get(name) or None
        return rendered

    def prepare(self, index: int, rendered: dict[str, Any]) -> PreparedRow:
        operator = self.operator
        trace = f"{self.trace}; row={index}"
        arguments = {
            **rendered,
            "from_email": self.from_email,
            "sender": operator.sender,
            "reply_to": operator.reply_to,
            "headers": {**validated_headers(rendered["headers"]), TRACE_HEADER: trace},
            "attachments": load_attachments(
                rendered["attachments"], max_total_bytes=operator.max_attachment_size
            ),
        }
        return operator.prepare_row(index, arguments, self.context)

    def mark(self, to_send: list[PreparedRow]) -> _Chunk:
        """Record the chunk's rows ``sending`` (one write), then check the fence."""
        rows = {
            p.index: LedgerRow(
                p.ledger_key, p.index, p.recipients_key, RowState.SENDING.value, self.try_number
            )
            for p in to_send
        }
        return _Chunk(self.attempt.mark(list(rows.values())), rows)

    def settle(
        self, chunk: _Chunk, writer: ResultsWriter, progress: Progress, *, partial: bool = False
    ) -> BaseException | None:
        """Record a chunk's answers (one ledger write); return an error that stops the batch.

        :param partial: settle only the answers in hand (the batch is stopping): rows whose send
            never started are dropped (nothing went out), running ones stay ``sending``.
        """
        fatal: BaseException | None = None
        futures = list(chunk.futures)
        done = [f for f in futures if f.done()] if partial else as_completed(futures)
        for future in done:
            prepared = chunk.futures[future]
            if future.cancelled():
                chunk.rows.pop(prepared.index, None)
                continue
            outcome = future.result()
            row = chunk.rows[prepared.index]
            if outcome.went_out is WentOut.NOTHING:
                chunk.rows.pop(prepared.index, None)
            elif outcome.result is not None:
                chunk.rows[prepared.index] = LedgerRow(
                    row.key,
                    row.index,
                    row.recipients_key,
                    RowState.ACCEPTED.value,
                    row.try_number,
                    outcome.result,
                )
            self.finish(outcome, writer, progress)
            if fatal is None and isinstance(outcome.error, BATCH_FATAL_ERRORS):
                fatal = outcome.error
        try:
            self.attempt.settle(chunk.number, list(chunk.rows.values()))
        except SendLedgerUnavailable as err:
            # the chunk is out; failing now would only make a retry report these rows as unknown
            self.operator.log.warning("The chunk was sent but the ledger could not record it: %s", err)
        return fatal

    def finish(self, outcome: RowOutcome, writer: ResultsWriter, progress: Progress) -> None:
        """Record a row's outcome: results file, progress, XCom ids, named failures."""
        writer.write(outcome.as_json())
        progress.record(outcome.status)
        if outcome.result is not None and outcome.status in ("accepted", "sent_earlier"):
            self.accepted_for_ids += 1
            if self.accepted_for_ids <= self.operator.xcom_ids_limit:
                self.operator.add_to_xcom(self.ids, outcome.index, outcome.result)
        elif outcome.status in ("failed", "unknown"):
            if outcome.status == "unknown":
                self.unknown_recipients.extend(outcome.recipients)
            if len(self.named_failures) < NAMED_FAILURES:
                self.named_failures.append(
                    {
                        "row": outcome.index,
                        "to": outcome.recipients,
                        **describe_error(outcome.error or Exception()),
                    }
                )


class _Stop:
    """Set by the first send that meets an error every later row would meet too (a refused key, a
    wait longer than the batch can honour): no send starts after it."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.error: BaseException | None = None

    def set(self, error: BaseException) -> None:
        self.error = self.error or error
        self.event.set()


def _send_one(prepared: PreparedRow, pool: queue.SimpleQueue[Any], gate: SendGate, stop: _Stop) -> RowOutcome:
    """Send one row with a pooled client, in a worker thread; never raises a service error.

    What went out when a send raises is the error's own word (:func:`send_outcome_of`): nothing
    (``failed``, a retry may send it), some recipients (``failed`` with the ids and refusals of
    what was queued: never sent again), or unknown.
    """
    gate.wait_turn()
    if stop.event.is_set():  # nothing went out: a retry sends it
        return RowOutcome(
            prepared.index, "failed", prepared.recipients, error=stop.error, went_out=WentOut.NOTHING
        )
    client = pool.get()
    try:
        result = prepared.send(client)
    except MailProviderError as err:
        if isinstance(err, BATCH_FATAL_ERRORS):
            stop.set(err)
        outcome = send_outcome_of(err)
        if outcome.went_out is WentOut.UNKNOWN:
            return RowOutcome(
                prepared.index, "unknown", prepared.recipients, error=err, went_out=outcome.went_out
            )
        partial = outcome_result(outcome) if outcome.went_out is WentOut.SOME else None
        return RowOutcome(
            prepared.index, "failed", prepared.recipients, partial, err, went_out=outcome.went_out
        )
    finally:
        pool.put(client)
    return RowOutcome(prepared.index, "accepted", prepared.recipients, result, went_out=WentOut.SOME)


def _chunks(source: RowSource, size: int) -> Iterator[list[tuple[int, Mapping[str, Any] | InvalidRow]]]:
    rows = iter(source)
    while chunk := list(itertools.islice(rows, size)):
        yield chunk


def _recipients_of(row: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for name in ("to", "cc", "bcc"):
        value = row.get(name)
        if isinstance(value, str) and value:
            found.append(value)
        elif isinstance(value, (list, tuple)):
            found.extend(str(item) for item in value)
    return found


class Sender25BulkSendOperator(_BulkSendOperator):
    """Send one Sender25 message per row of a list or a CSV/JSONL file.

    Rows come from ``rows``: a list of dicts (literal or an XCom), or a ``.csv``/``.jsonl`` file as a
    local path, a URL or an ``ObjectStoragePath``, streamed. The per-row fields (``to``, ``cc``,
    ``bcc``, ``subject``, ``plain_body``, ``html_body``, ``headers``, ``attachments``, ``tag``) are
    Jinja templates rendered for each row with the task's own Jinja environment and context, plus
    ``row``; a body ending in ``.html``/``.txt`` is a template file. ``to``/``cc``/``bcc`` default to
    the row's ``to``/``cc``/``bcc`` columns. Every row is validated before its send (the Sender25
    payload builder); one bad row never stops the batch.

    Returns (XCom)::

        {"counts": {"total", "accepted", "sent_earlier", "failed", "unknown"},
         "results_path": "<JSONL of every row>", "failed_rows": [first 20 {row, to, error, code, text}],
         "ids_in_xcom": bool,
         "messages": {recipient: {"id": int, "token": str}}}   # {} above xcom_ids_limit accepted

    ``Sender25DeliverySensor(messages=<this XCom>)`` takes it as is (above ``xcom_ids_limit`` it reads the
    accepted rows from the results file). The same recipient in two rows
    appears as ``"<recipient> (row <index>)"`` for the second.

    :param rows: the rows (templated).
    :param subject: per-row template of the subject.
    :param plain_body: per-row template (or ``.txt`` template file) of the text body.
    :param html_body: per-row template (or ``.html`` template file) of the HTML body.
    :param to: per-row template of the recipients (default: the row's ``to``).
    :param cc: per-row template of the Cc recipients (default: the row's ``cc``).
    :param bcc: per-row template of the Bcc recipients (default: the row's ``bcc``).
    :param from_email: the sender, else the connection extra ``from_email`` (templated).
    :param sender: the Sender header (templated).
    :param reply_to: the Reply-To address (templated).
    :param headers: per-row templates of extra headers.
    :param attachments: per-row templates of attachment paths/URLs (or tuples).
    :param max_attachment_size: limit in bytes of one row's encoded attachments.
    :param tag: per-row template of Postal's tag.
    :param bounce: send as bounce messages.
    :param max_concurrency: worker threads, each with its own keep-alive connection (default 8).
    :param rate_limit: at most this many messages per second across all workers (default: none).
    :param max_failed_rows: rows that may fail (or end unknown) before the task fails (default 0).
    :param results_path: the JSONL results file, local or object storage (templated); default
        ``$AIRFLOW_HOME/mail_bulk_results/<dag_id>/<run_id>/<task_id>.jsonl``.
    :param progress_interval: seconds between progress lines in the log (default 10).
    :param ledger_chunk_size: rows per ledger write (default: 100 to 1,000, about 50 writes a batch).
    :param xcom_ids_limit: above this many accepted rows the XCom holds no ids, only the results file.
    :param on_unknown_outcome: ``"fail"`` (default) or ``"resend"`` rows an earlier try left unknown.
    :param ledger: where the send ledger lives (see the single-send operators).
    :param sender25_conn_id: the Sender25 connection (templated).
    """

    template_fields: Sequence[str] = (*BULK_TEMPLATE_FIELDS, "sender25_conn_id")
    service = "sender25"

    def __init__(
        self,
        *,
        tag: str | None = None,
        bounce: bool = False,
        sender25_conn_id: str = Sender25Hook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.tag = tag
        self.bounce = bounce
        self.sender25_conn_id = sender25_conn_id

    def extra_row_fields(self) -> tuple[str, ...]:
        """Per-row fields of this service."""
        return ("tag",)

    def identity_extras(self) -> dict[str, Any]:
        return {**super().identity_extras(), "bounce": self.bounce}

    def open_clients(self, count: int, gate: SendGate) -> list[Any]:
        clients = []
        for _ in range(count):
            hook = Sender25Hook(sender25_conn_id=self.sender25_conn_id)
            hook.settings  # noqa: B018 - fetch the connection here, not in a worker thread
            # the hook's waits between attempts (429 Retry-After included) hold every sender
            hook.route_waits(gate.sleep_after_failure)
            clients.append(hook)
        return clients

    def connection_from_email(self, client: Any) -> str | None:
        return client.from_email

    def prepare_row(self, index: int, arguments: dict[str, Any], context: Any) -> PreparedRow:
        tag = arguments.pop("tag", None)
        payload = build_send_message_payload(**arguments, tag=tag, bounce=self.bounce)
        recipients = payload["to"] + payload["cc"] + payload["bcc"]

        def send(hook: Sender25Hook) -> dict[str, Any]:
            result = hook.send_payload(payload)  # validated above: not built a second time
            return {"message_id": result.get("message_id"), "messages": result.get("messages") or {}}

        return PreparedRow(index, recipients, arguments["headers"][TRACE_HEADER], send)

    def empty_ids(self) -> dict[str, Any]:
        return {"messages": {}}

    def add_to_xcom(self, xcom: dict[str, Any], index: int, result: dict[str, Any]) -> None:
        messages = xcom["messages"]
        for recipient, entry in (result.get("messages") or {}).items():
            key = recipient if recipient not in messages else f"{recipient} (row {index})"
            messages[key] = {"id": entry.get("id"), "token": entry.get("token")}


class XmailerBulkSendOperator(_BulkSendOperator):
    """Send one message per row through the xmailer SMTP relay, several messages per SMTP session.

    Same rows, per-row templates, pacing, ledger and results as :class:`Sender25BulkSendOperator`
    (minus ``tag``/``bounce``); each row is validated by the MIME builder before its send. Each
    worker keeps one SMTP session open for many messages (reconnecting when the relay hangs up).

    Returns (XCom)::

        {"counts": {...}, "results_path": ..., "failed_rows": [...], "ids_in_xcom": bool,
         "sends": [{"queue_id", "accepted", "mail_from", "sent_at"}, ...]}  # [] above xcom_ids_limit

    ``XmailerDeliverySensor(messages=<this XCom>)`` takes it as is; above ``xcom_ids_limit`` the sensor
    reads the accepted rows from the results file.

    :param fail_on_refused: a row with any refused recipient counts as failed (its accepted
        recipients were still sent); by default only a row that reached nobody fails.
    :param xmailer_conn_id: the xmailer connection (templated).

    See :class:`Sender25BulkSendOperator` for the other arguments.
    """

    template_fields: Sequence[str] = (*BULK_TEMPLATE_FIELDS, "xmailer_conn_id")
    service = "xmailer"

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

    def extra_row_fields(self) -> tuple[str, ...]:
        """Per-row fields of this service."""
        return ()

    def open_clients(self, count: int, gate: SendGate) -> list[Any]:
        hook = XmailerSmtpHook(xmailer_conn_id=self.xmailer_conn_id)
        hook.settings  # noqa: B018 - fetch the connection here, not in a worker thread
        hook.route_waits(gate.sleep_after_failure)
        self._xmailer_hook = hook
        return [hook.smtp_session() for _ in range(count)]

    def connection_from_email(self, client: Any) -> str | None:
        return self._xmailer_hook.settings.from_email

    def prepare_row(self, index: int, arguments: dict[str, Any], context: Any) -> PreparedRow:
        built = build_email_message(**arguments)

        def send(session: Any) -> dict[str, Any]:
            result = session.send(built, fail_on_refused=self.fail_on_refused)
            return {
                key: result.get(key)
                for key in ("queue_id", "accepted", "refused", "mail_from", "sent_at", "message_id")
            }

        return PreparedRow(index, list(built.recipients), arguments["headers"][TRACE_HEADER], send)

    def empty_ids(self) -> dict[str, Any]:
        return {"sends": []}

    def add_to_xcom(self, xcom: dict[str, Any], index: int, result: dict[str, Any]) -> None:
        xcom["sends"].append(
            {key: result.get(key) for key in ("queue_id", "accepted", "mail_from", "sent_at")}
        )


__all__ = ["Sender25BulkSendOperator", "XmailerBulkSendOperator"]
