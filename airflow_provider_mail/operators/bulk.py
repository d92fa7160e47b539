"""Bulk sending: one message per row of a list or a CSV/JSONL file, through Sender25 or xmailer.

Each bulk operator is its service's single-send operator (the same message arguments, composed the
same way, the same ledger) applied to every row: the rows are rendered, triaged against the ledger,
sent by worker threads and settled chunk by chunk by :mod:`airflow_provider_mail._bulk.batch`
(concurrency, pacing and the exactly-once rules are described there and in the README).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_mail._bulk.batch import NoLedger, PreparedRow, send_batch
from airflow_provider_mail._bulk.gate import SendGate, rate_share
from airflow_provider_mail._bulk.progress import DEFAULT_PROGRESS_INTERVAL, Progress
from airflow_provider_mail._bulk.rows import RowSource
from airflow_provider_mail._compat import BaseOperator, mapped_instance_count
from airflow_provider_mail._ledger import Attempt, open_ledger
from airflow_provider_mail._sender25.payload import build_send_message_payload
from airflow_provider_mail._shared.mime import build_email_message
from airflow_provider_mail._shared.task_context import TRACE_HEADER
from airflow_provider_mail.exceptions import MailConfigurationError
from airflow_provider_mail.hooks.sender25 import Sender25Hook
from airflow_provider_mail.operators.sender25 import Sender25SendEmailOperator
from airflow_provider_mail.operators.xmailer import XmailerSendEmailOperator

if TYPE_CHECKING:
    from airflow_provider_mail._compat import Context

#: Worker threads (and pooled clients) by default: see :mod:`airflow_provider_mail._bulk.batch`.
DEFAULT_MAX_CONCURRENCY = 8
#: Up to this many accepted messages, the XCom carries their ids; above, only XCom pages (``gate_ids``).
DEFAULT_XCOM_IDS_LIMIT = 1000
BULK_TEMPLATE_FIELDS: tuple[str, ...] = ("rows", "from_email", "sender", "reply_to", "results_path")


class _BulkSend(BaseOperator):
    """The bulk part of the bulk send operators: rows, pacing, chunks, results; placed before the
    service's single-send operator, whose message arguments (``to``, ``subject``, ...) become per-row
    templates rendered with ``row``.

    :param rows: the rows (templated).
    :param max_concurrency: worker threads, each with its own pooled client (default 8).
    :param rate_limit: at most this many messages reach the service in any one second, for the whole
        task: a mapped task's instances each pace themselves to an even share.
    :param max_failed_rows: rows that may fail (or end unknown) before the task fails (default 0).
    :param results_path: the JSONL results file (templated).
    :param progress_interval: seconds between progress lines in the log (default 10).
    :param ledger_chunk_size: rows per ledger chunk (default: a fiftieth of the batch, 100 to 1,000
        rows, and at least 12 per worker).
    :param xcom_ids_limit: above this many accepted rows the XCom holds no ids (the gate reads them from
        XCom pages, ``gate_ids``).
    :param partition: ``(index, count)``: send only rows ``index``, ``index + count``, ... of ``rows``
        (keeping their row numbers), so that ``count`` mapped instances send one source between them:
        ``.partial(rows=..., rate_limit=50).expand(partition=[(i, 4) for i in range(4)])``.
    """

    template_fields: Sequence[str] = BULK_TEMPLATE_FIELDS
    service = ""
    # set by the single-send operator this one is combined with
    from_email: str | None
    sender: str | None
    reply_to: str | None
    ledger: str | None

    def __init__(
        self,
        *,
        rows: Any,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        rate_limit: float | None = None,
        max_failed_rows: int = 0,
        results_path: str | None = None,
        progress_interval: float = DEFAULT_PROGRESS_INTERVAL,
        ledger_chunk_size: int | None = None,
        xcom_ids_limit: int = DEFAULT_XCOM_IDS_LIMIT,
        partition: Sequence[int] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise MailConfigurationError(f"max_concurrency must be an int >= 1, got {max_concurrency!r}")
        if max_failed_rows < 0:
            raise MailConfigurationError(f"max_failed_rows must be >= 0, got {max_failed_rows!r}")
        self.rows = rows
        self.max_concurrency = max_concurrency
        self.rate_limit = rate_limit
        self.max_failed_rows = max_failed_rows
        self.results_path = results_path
        self.progress_interval = progress_interval
        self.ledger_chunk_size = ledger_chunk_size
        self.xcom_ids_limit = xcom_ids_limit
        self.partition = _checked_partition(partition)

    def execute(self, context: Context) -> dict[str, Any]:
        source = RowSource(self.rows)
        total = source.count()
        if total is not None and self.partition is not None:
            total = len(range(self.partition[0], total, self.partition[1]))
        ti = context.get("ti")
        ledger = open_ledger(context, self.ledger)
        attempt: Attempt | NoLedger = (
            NoLedger(getattr(ti, "try_number", None))
            if ledger is None
            else ledger.begin(
                max_tries=getattr(ti, "max_tries", None), try_number=getattr(ti, "try_number", None)
            )
        )
        try:
            xcom = send_batch(self, context, source, total, attempt)
        except BaseException as err:
            attempt.end(err)
            raise
        attempt.end()
        return xcom

    def rate_share(self, context: Any) -> float | None:
        """This instance's share of ``rate_limit``: the rate is for the whole (mapped) task.

        :param context: the task context (the mapped task's length and this instance's map index).
        """
        if not self.rate_limit:
            return self.rate_limit
        instances = mapped_instance_count(context)
        if instances:
            return rate_share(self.rate_limit, getattr(context.get("ti"), "map_index", 0), instances)
        if self.partition is not None:
            return rate_share(self.rate_limit, self.partition[0], self.partition[1])
        return self.rate_limit

    def after_chunk(self, progress: Progress) -> None:
        """Called after each chunk is settled in the ledger (a seam for tests and subclasses).

        :param progress: the counts so far.
        """

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
        :param arguments: the row's message arguments.
        :param context: the task context.
        """
        raise NotImplementedError

    def extra_row_fields(self) -> tuple[str, ...]:
        """Per-row fields of this service besides the composed message's."""
        return ()

    def identity_extras(self) -> dict[str, Any]:
        """What else makes a row's message what it is, besides its rendered fields (row keys)."""
        return {
            "service": self.service,
            "from_email": self.from_email,
            "sender": self.sender,
            "reply_to": self.reply_to,
        }

    def empty_ids(self) -> dict[str, Any]:
        """The ids part of the XCom when there are too many ids for it."""
        raise NotImplementedError

    def add_to_xcom(self, xcom: dict[str, Any], index: int, result: dict[str, Any]) -> None:
        """Add an accepted row's ids to the XCom."""
        raise NotImplementedError


class Sender25BulkSendOperator(_BulkSend, Sender25SendEmailOperator):
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
         "messages": {recipient: {"id": int, "token": str}},   # {} above xcom_ids_limit accepted
         "gate_ids": {...}}   # where the delivery gate finds every accepted id (XCom pages)

    ``Sender25DeliverySensor(messages=<this XCom>)`` takes it as is, whatever the batch: it reads the
    accepted ids from XCom pages of this task (``gate_ids``), never from the results file. The same
    recipient in two rows
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
    :param rate_limit: at most this many messages reach the service in any one second, for the
        whole task: a mapped task's instances each pace themselves to an even share (default: none).
    :param max_failed_rows: rows that may fail (or end unknown) before the task fails (default 0).
    :param results_path: the JSONL results file, local or object storage (templated); default
        ``$AIRFLOW_HOME/mail_bulk_results/<dag_id>/<run_id>/<task_id>.jsonl``.
    :param progress_interval: seconds between progress lines in the log (default 10).
    :param ledger_chunk_size: rows per ledger write (default: a fiftieth of the batch, 100 to 1,000
        rows, and at least 12 per worker).
    :param xcom_ids_limit: above this many accepted rows the XCom holds no ids (the gate reads them from
        XCom pages, ``gate_ids``).
    :param partition: ``(index, count)``: only rows ``index``, ``index + count``, ... (mapped instances
        sending one source between them).
    :param on_unknown_outcome: ``"fail"`` (default) or ``"resend"`` rows an earlier try left unknown.
    :param ledger: where the send ledger lives (see the single-send operators).
    :param sender25_conn_id: the Sender25 connection (templated).
    """

    template_fields: Sequence[str] = (*BULK_TEMPLATE_FIELDS, "sender25_conn_id")
    service = "sender25"

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


class XmailerBulkSendOperator(_BulkSend, XmailerSendEmailOperator):
    """Send one message per row through the xmailer SMTP relay, several messages per SMTP session.

    Same rows, per-row templates, pacing, ledger and results as :class:`Sender25BulkSendOperator`
    (minus ``tag``/``bounce``); each row is validated by the MIME builder before its send. Each
    worker keeps one SMTP session open for many messages (reconnecting when the relay hangs up).

    Returns (XCom)::

        {"counts": {...}, "results_path": ..., "failed_rows": [...], "ids_in_xcom": bool,
         "sends": [{"queue_id", "accepted", "mail_from", "sent_at"}, ...],  # [] above xcom_ids_limit
         "gate_ids": {...}}

    ``XmailerDeliverySensor(messages=<this XCom>)`` takes it as is, whatever the batch (from the XCom
    pages named by ``gate_ids``).

    :param fail_on_refused: a row with any refused recipient counts as failed (its accepted
        recipients were still sent); by default only a row that reached nobody fails.
    :param xmailer_conn_id: the xmailer connection (templated).

    See :class:`Sender25BulkSendOperator` for the other arguments.
    """

    template_fields: Sequence[str] = (*BULK_TEMPLATE_FIELDS, "xmailer_conn_id")
    service = "xmailer"

    def extra_row_fields(self) -> tuple[str, ...]:
        """Per-row fields of this service."""
        return ()

    def open_clients(self, count: int, gate: SendGate) -> list[Any]:
        self.hook.settings  # noqa: B018 - fetch the connection here, not in a worker thread
        self.hook.route_waits(gate.sleep_after_failure)
        return [self.hook.smtp_session() for _ in range(count)]

    def connection_from_email(self, client: Any) -> str | None:
        return self.hook.settings.from_email

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


def _checked_partition(partition: Sequence[int] | None) -> tuple[int, int] | None:
    """``(index, count)`` checked, or ``None``.

    :param partition: the ``partition`` argument.
    :raises MailConfigurationError: not two whole numbers with ``0 <= index < count``.
    """
    if partition is None:
        return None
    try:
        index, count = (int(part) for part in partition)
    except (TypeError, ValueError):
        raise MailConfigurationError(
            f"partition must be (index, count), e.g. (0, 4), got {partition!r}"
        ) from None
    if count < 1 or not 0 <= index < count:
        raise MailConfigurationError(
            f"partition must be (index, count) with 0 <= index < count, got {partition!r}"
        )
    return index, count
