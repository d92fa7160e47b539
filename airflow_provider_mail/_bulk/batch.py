"""A bulk send's batch: rows rendered and triaged against the ledger, sent chunk by chunk by worker
threads, settled, reported. The bulk operators (:mod:`airflow_provider_mail.operators.bulk`) add the
service: its clients, how a row is built and sent, and its XCom ids.

**Concurrency: threads, 8 by default.** Both hooks are synchronous (requests for Sender25, smtplib
for xmailer; SMTP has no async client here), so a small pool of worker threads, each holding its own
pooled client, gives real connection reuse with no second code path for sending. A send spends its
time waiting on the network, so threads overlap round trips well; 8 matches the hooks' own keep-alive
pool (``POOL_SIZE``) and the async driver's cap (``MAX_CONNECTIONS``), keeps a shared relay or API
far from its per-client limits, and gives ``8 / round trip`` messages per second (160/s at 50 ms).

**Pacing.** One :class:`~airflow_provider_mail._bulk.gate.SendGate` per batch: each send waits its
turn (the optional ``rate_limit`` in messages per second), and when a hook waits out a 429 (its
``Retry-After``) or a retryable failure before retrying, *every* sender waits with it. An error every
later row would meet too (a refused key, a wait longer than the connection allows) stops the batch:
no send starts after it.

**Exactly once.** A row is known by what it is (:func:`~airflow_provider_mail._ledger.content_key`
of its rendered recipients and content), not by its place, so an input edited between tries still
finds each row's earlier send. A chunk's rows are marked ``sending`` in one ledger write (then the
fence is checked) before the chunk goes out, and settled in one write after: accepted rows with
their ids, refused ones dropped (nothing went out), unanswered ones left ``sending``. A retry skips
accepted rows, reports rows still ``sending`` as *unknown* and does not send them (unless
``on_unknown_outcome="resend"``), and sends the rest. On any exception the answers already in hand
are settled before it is raised.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import jinja2

from airflow_provider_mail._bulk.gate import SendGate
from airflow_provider_mail._bulk.progress import Progress
from airflow_provider_mail._bulk.render import RowTemplate
from airflow_provider_mail._bulk.results import ResultsWriter, default_results_path, describe_error
from airflow_provider_mail._bulk.rows import InvalidRow, RowSource
from airflow_provider_mail._ledger import (
    Action,
    Attempt,
    LedgerRow,
    RowState,
    content_key,
    decide,
    recipients_key,
)
from airflow_provider_mail._ledger.earlier import EarlierRows
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
from airflow_provider_mail.operators._compose import MESSAGE_FIELDS
from airflow_provider_mail.operators._exactly_once import outcome_result

DEFAULT_MAX_CONCURRENCY = 8
#: The interpreter's thread switch interval while a batch sends (seconds; CPython's default is 5 ms).
SEND_SWITCH_INTERVAL = 0.0005
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
#: Per-row fields: rendered for each row (with ``row``), not by Airflow before ``execute``.
PER_ROW_FIELDS: tuple[str, ...] = MESSAGE_FIELDS


def auto_chunk_size(total: int | None, concurrency: int) -> int:
    """Rows per ledger write: at least 100 (and 12 per worker), at most 1,000, about 50 writes a
    batch, rounded up to whole rounds of sends (a multiple of ``concurrency``) within those bounds.

    Workers idle while a chunk's last sends finish, so a chunk is at least a dozen rounds of sends;
    and since every send of a batch takes about one round trip, the sends go out in rounds of
    ``concurrency``: a chunk of 100 rows on 8 workers is 12.5 rounds, and its half-empty last round
    idles half the workers for a whole round trip at every chunk (4 % of the batch).

    :param total: rows in the batch, when known.
    :param concurrency: worker threads.
    """
    size = max(100, 12 * concurrency, min(1000, (total or 0) // 50))
    whole_rounds = -(-size // max(1, concurrency)) * max(1, concurrency)
    return whole_rounds if whole_rounds <= max(1000, size) else size


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


class NoLedger:
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
class Chunk:
    """A chunk marked ``sending`` in the ledger, its sends in flight."""

    number: int
    rows: dict[int, LedgerRow]
    futures: dict[Future[RowOutcome], PreparedRow] = field(default_factory=dict)


class Batch:
    """The running state of one batch: renders rows, keeps the ledger, collects the XCom ids."""

    def __init__(self, operator: Any, context: Any, first_client: Any, attempt: Any):
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
        self.connection_from = operator.connection_from_email(first_client)
        self.ids: dict[str, Any] = operator.empty_ids()
        self.accepted_for_ids = 0
        self.named_failures: list[dict[str, Any]] = []
        self.unknown_recipients: list[str] = []
        self.stop = Stop()

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
            return RowOutcome(index, "failed", recipients_of(row), error=err), None
        recipients = recipients_of(rendered)
        sender = resolve_from_email(self.operator.from_email, self.connection_from)
        key = content_key({**rendered, **self.operator.identity_extras(), "from_email": sender})
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
        """The row's message arguments as a single send composes them (its trace header ends in
        ``; row=<index>``), validated by the service's builder."""
        arguments = self.operator.message_arguments(
            self.context,
            connection_from=self.connection_from,
            values=rendered,
            trace=f"{self.trace}; row={index}",
        )
        arguments.update({name: rendered[name] for name in self.operator.extra_row_fields()})  # tag
        return self.operator.prepare_row(index, arguments, self.context)

    def mark(self, to_send: list[PreparedRow]) -> Chunk:
        """Record the chunk's rows ``sending`` (one write), then check the fence."""
        rows = {
            p.index: LedgerRow(
                p.ledger_key, p.index, p.recipients_key, RowState.SENDING.value, self.try_number
            )
            for p in to_send
        }
        return Chunk(self.attempt.mark(list(rows.values())), rows)

    def settle(
        self, chunk: Chunk, writer: ResultsWriter, progress: Progress, *, partial: bool = False
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


class Stop:
    """Set by the first send that meets an error every later row would meet too (a refused key, a
    wait longer than the batch can honour): no send starts after it."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.error: BaseException | None = None

    def set(self, error: BaseException) -> None:
        self.error = self.error or error
        self.event.set()


def send_one(prepared: PreparedRow, pool: queue.SimpleQueue[Any], gate: SendGate, stop: Stop) -> RowOutcome:
    """Send one row with a pooled client, in a worker thread; never raises a service error.

    What went out when a send raises is the error's own word (:func:`send_outcome_of`): nothing
    (``failed``, a retry may send it), some recipients (``failed`` with the ids and refusals of
    what was queued: never sent again), or unknown.
    """
    gate.wait_turn()
    try:
        return _send_in_turn(prepared, pool, stop)
    finally:
        gate.turn_done()  # the rate permit runs out one second after the answer


def _send_in_turn(prepared: PreparedRow, pool: queue.SimpleQueue[Any], stop: Stop) -> RowOutcome:
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


@contextlib.contextmanager
def responsive_threads(interval: float = SEND_SWITCH_INTERVAL) -> Iterator[None]:
    """Let a worker whose answer arrived take the GIL sooner while the batch sends.

    The next chunk is rendered on the main thread while the workers wait on the network; a worker
    woken by its answer then waits for the GIL until the renderer gives it up, up to the switch
    interval (5 ms by default), a quarter of a 20 ms round trip, at every answer. A shorter interval
    while the batch sends (restored after, unless someone else changed it meanwhile) removes that
    wait at the cost of a few more thread switches.

    :param interval: the switch interval while sending (never raised above the current one).
    """
    before = sys.getswitchinterval()
    ours = min(before, interval)
    sys.setswitchinterval(ours)
    try:
        yield
    finally:
        if sys.getswitchinterval() == ours:
            sys.setswitchinterval(before)


def chunks(
    source: RowSource, size: int, partition: tuple[int, int] | None = None
) -> Iterator[list[tuple[int, Mapping[str, Any] | InvalidRow]]]:
    """The rows in chunks of ``size``; with ``partition=(index, count)`` only every ``count``-th row
    from ``index`` (rows keep their index in the whole source)."""
    rows: Iterator[tuple[int, Mapping[str, Any] | InvalidRow]] = iter(source)
    if partition is not None:
        rows = itertools.islice(rows, partition[0], None, partition[1])
    while chunk := list(itertools.islice(rows, size)):
        yield chunk


def recipients_of(row: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for name in ("to", "cc", "bcc"):
        value = row.get(name)
        if isinstance(value, str) and value:
            found.append(value)
        elif isinstance(value, (list, tuple)):
            found.extend(str(item) for item in value)
    return found


def send_batch(
    operator: Any, context: Any, source: RowSource, total: int | None, attempt: Attempt | NoLedger
) -> dict[str, Any]:
    """Send every row of ``source``, chunk by chunk, as the ledger allows; return the XCom.

    :param operator: the bulk operator (its arguments, and what its service says).
    :param context: the task context.
    :param source: the rows.
    :param total: how many rows, when known.
    :param attempt: this try's hold on the ledger.
    :raises BulkSendFailed: more rows failed (or ended unknown) than ``max_failed_rows``.
    :raises AmbiguousSendError: as above, some of them unknown.
    """
    gate = SendGate(operator.rate_share(context))
    results_path = str(operator.results_path or default_results_path(context))
    chunk_size = operator.ledger_chunk_size or auto_chunk_size(total, operator.max_concurrency)
    progress = Progress(total, operator.log, interval=operator.progress_interval)
    operator.log.info(
        "Bulk send of %s rows from %s through %s: %d worker(s), rate limit %s msg/s, ledger %s "
        "(written every %d rows; %d row(s) recorded by earlier tries), results %s",
        "?" if total is None else total,
        source.describe(),
        operator.service,
        operator.max_concurrency,
        gate.rate_limit or "none",
        attempt.where,
        chunk_size,
        len(attempt.earlier),
        results_path,
    )
    clients = operator.open_clients(operator.max_concurrency, gate)
    pool: queue.SimpleQueue[Any] = queue.SimpleQueue()
    for client in clients:
        pool.put(client)
    batch = Batch(operator, context, clients[0], attempt)
    fatal: BaseException | None = None
    try:
        # the gate's ids are paged into this task's XComs too: a gate on any worker confirms the batch
        with ResultsWriter(results_path, ti=context.get("ti")) as writer, responsive_threads():
            executor = ThreadPoolExecutor(
                operator.max_concurrency, thread_name_prefix=f"{operator.task_id}-send"
            )
            in_flight: Chunk | None = None
            try:
                # While one chunk is in flight, the next is rendered and validated on this thread;
                # it is marked `sending` and sent only once the previous one is settled, so a try
                # that dies leaves at most one chunk unknown.
                for rows in chunks(source, chunk_size, operator.partition):
                    to_send = [p for p in (batch.triage(i, row, writer, progress) for i, row in rows) if p]
                    if in_flight is not None:
                        fatal = batch.settle(in_flight, writer, progress)
                        in_flight = None
                        operator.after_chunk(progress)
                        if fatal is not None:
                            break
                    if to_send:
                        in_flight = batch.mark(to_send)
                        in_flight.futures = {
                            executor.submit(send_one, prepared, pool, gate, batch.stop): prepared
                            for prepared in to_send
                        }
                    else:
                        operator.after_chunk(progress)
                if in_flight is not None:
                    fatal = batch.settle(in_flight, writer, progress)
                    in_flight = None
                    operator.after_chunk(progress)
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
        operator.close_clients(clients)
    progress.report(final=True)
    if gate.holds:
        operator.log.info(
            "The service made the batch wait %d time(s), %.1f s in all (429 Retry-After or retries)",
            gate.holds,
            gate.held_seconds,
        )
    if fatal is not None:
        raise fatal
    return {
        **conclude(operator, batch, progress, results_path, attempt.where),
        "gate_ids": writer.gate_reference(),
    }


def conclude(
    operator: Any, batch: Batch, progress: Progress, results_path: str, where: str
) -> dict[str, Any]:
    """The XCom of a finished batch, or the error when too many rows were not sent.

    :param operator: the bulk operator.
    :param batch: the batch.
    :param progress: its counts.
    :param results_path: the results file.
    :param where: where the ledger is.
    """
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
        "ids_in_xcom": accepted <= operator.xcom_ids_limit,
    }
    xcom.update(batch.ids if accepted <= operator.xcom_ids_limit else operator.empty_ids())
    if bad > operator.max_failed_rows:
        shown = "; ".join(
            f"row {f['row']} {f['to']}: {f['error']} {f['code'] or ''} {f['text']}"
            for f in batch.named_failures
        )
        summary = (
            f"{bad} of {progress.done} rows were not sent (max_failed_rows={operator.max_failed_rows}): "
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
                service=operator.service,
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
        operator.log.warning("%d row(s) not sent, within max_failed_rows=%d", bad, operator.max_failed_rows)
    return xcom
