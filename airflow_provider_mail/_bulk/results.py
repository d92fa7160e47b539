"""The per-row results of a bulk send: one JSON line per row, and the named error of a failed row.

Each line is ``{"row": index, "status": …, "to": [...], …}`` where ``status`` is ``"accepted"``
(with the service's ids), ``"sent_earlier"`` (accepted by an earlier try; its ids from the ledger),
``"failed"`` (``error`` class name, ``code``, ``text``: nothing was sent) or ``"unknown"`` (the
send may or may not have been accepted: not re-sent). Only ids and addresses: never a body.

The file is the user's report; the delivery gate never needs it. What the gate needs (the accepted
rows' ids) is also paged into the bulk task's own XComs as the rows finish
(:mod:`airflow_provider_mail._delivery.pages`), and the bulk XCom carries the reference
(``gate_ids``): a gate on any worker, or in any triggerer, confirms the batch without this file, so
the file may stay on the worker's disk. The pages live wherever Airflow keeps XComs (the metadata
database, or the object storage of an object-storage XCom backend). An XCom from before ``gate_ids``
existed is read from the file;
a local file that is not on this machine is :class:`~airflow_provider_mail.exceptions.
AwaitedMessagesUnavailable`, naming what to configure.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from airflow_provider_mail._delivery.pages import PageWriter, can_push
from airflow_provider_mail.exceptions import AwaitedMessagesUnavailable

_UNSAFE = re.compile(r"[^A-Za-z0-9_.=+-]")
#: The longest error text kept per row (service texts are short; a traceback is not wanted).
MAX_ERROR_TEXT = 500


def describe_error(error: BaseException) -> dict[str, Any]:
    """The named error of a row: ``{"error": class name, "code": …, "text": …}``.

    ``code`` is the service's or validator's code (``InvalidAddress``, ``NoRecipients``), an SMTP
    code, or an HTTP status, whichever the error carries.

    :param error: the error raised for the row.
    """
    code = None
    for attribute in ("code", "smtp_code", "http_status"):
        value = getattr(error, attribute, None)
        if value is not None:
            code = value
            break
    text = str(getattr(error, "message", None) or error)
    return {"error": type(error).__name__, "code": code, "text": text[:MAX_ERROR_TEXT]}


def default_results_path(context: Any) -> str:
    """``$AIRFLOW_HOME/mail_bulk_results/<dag_id>/<run_id>/<task_id>[.<map_index>].jsonl``.

    One file per task instance: each try rewrites it with every row (rows of earlier tries included).

    :param context: the task context.
    """
    ti = context.get("ti") or context.get("task_instance")
    home = os.environ.get("AIRFLOW_HOME") or os.path.join(tempfile.gettempdir(), "airflow")
    map_index = getattr(ti, "map_index", -1)
    suffix = "" if map_index in (None, -1) else f".{map_index}"
    parts = [_UNSAFE.sub("_", str(getattr(ti, name, "unknown"))) for name in ("dag_id", "run_id")]
    name = _UNSAFE.sub("_", f"{getattr(ti, 'task_id', 'task')}{suffix}") + ".jsonl"
    return str(Path(home, "mail_bulk_results", *parts, name))


#: The XCom key prefix of a bulk send's paged gate ids (``mail_gate_ids.0``, ``mail_gate_ids.1``, …).
GATE_PAGES_KEY = "mail_gate_ids"


class ResultsWriter:
    """Writes one JSON line per row to a local path or an object-storage URL, as rows finish; and,
    given the task instance, pages each accepted row's ids into its XComs for the delivery gate.

    :param target: the path or URL (``s3://bucket/key.jsonl``, ``file:///…``).
    :param ti: the running task instance; ``None`` (or one that cannot push XComs): no pages.
    """

    def __init__(self, target: str, *, ti: Any = None) -> None:
        self.target = str(target)
        self.rows = 0
        self._raw: Any = None
        self._text: IO[str] | None = None
        self._pages = PageWriter(ti, GATE_PAGES_KEY) if can_push(ti) else None

    def __enter__(self) -> ResultsWriter:
        if "://" in self.target:
            from airflow_provider_mail._compat import ObjectStoragePath

            path = ObjectStoragePath(self.target)
            if path.protocol in ("file", "local"):
                path.parent.mkdir(parents=True, exist_ok=True)
            self._raw = path.open("wb")
        else:
            local = Path(self.target).expanduser()
            local.parent.mkdir(parents=True, exist_ok=True)
            self._raw = local.open("wb")
        self._text = io.TextIOWrapper(self._raw, encoding="utf-8", newline="\n")
        return self

    def write(self, result: dict[str, Any]) -> None:
        """Append one row's result.

        :param result: the row's result (JSON-compatible).
        """
        assert self._text is not None, "use ResultsWriter as a context manager"
        self._text.write(json.dumps(result, ensure_ascii=False, default=str) + "\n")
        self.rows += 1
        if self._pages is not None and (item := gate_item(result)) is not None:
            self._pages.add(item)

    def gate_reference(self) -> dict[str, Any] | None:
        """Push the last page of gate ids; return the reference for the bulk XCom (``None``: no pages)."""
        return None if self._pages is None else self._pages.reference().as_json()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._text is not None:
            self._text.close()
        self._text = self._raw = None


def read_results(target: str) -> list[dict[str, Any]]:
    """Every row of a results file (for reports and tests; a big file is better streamed).

    :param target: the path or URL.
    """
    return list(iter_results(target))


def iter_results(target: str) -> Iterator[dict[str, Any]]:
    """The rows of a results file, one at a time.

    :param target: the path or URL.
    """
    from airflow_provider_mail._bulk.rows import open_text

    local = str(target).removeprefix("file://") if str(target).startswith("file://") else str(target)
    if "://" not in local and not Path(local).expanduser().exists():
        raise AwaitedMessagesUnavailable(
            f"the bulk results file {target} is not on this machine: the bulk task ran on another "
            "worker (or pod), whose disk this one cannot see. Set the bulk operator's results_path to "
            "object storage every worker can read (s3://…, gs://…, or an ObjectStoragePath), or run "
            "the bulk task again with this provider version, whose XCom carries the ids for the gate "
            "(gate_ids).",
            where=str(target),
        )
    with open_text(target) as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


#: Result statuses whose rows the service accepted (their ids are in the line).
ACCEPTED_STATUSES = frozenset({"accepted", "sent_earlier"})


def gate_item(line: Mapping[str, Any]) -> dict[str, Any] | None:
    """What the delivery gate needs of a results line: an accepted row's ids, as a value the gate
    accepts on its own; ``None`` for a row that was not accepted.

    :param line: a results line (:class:`ResultsWriter` writes them).
    """
    if line.get("status") not in ACCEPTED_STATUSES:
        return None
    messages = line.get("messages")
    if isinstance(messages, Mapping):  # Sender25: {recipient: {"id", "token"}}; the token is not needed
        return {
            "messages": {
                str(rcpt): {"id": entry.get("id")}
                for rcpt, entry in messages.items()
                if isinstance(entry, Mapping)
            }
        }
    if "accepted" in line:  # xmailer
        return {key: line.get(key) for key in ("queue_id", "accepted", "mail_from", "sent_at")}
    return None


def is_bulk_xcom(value: Any) -> bool:
    """Whether ``value`` is a bulk send operator's XCom.

    :param value: anything a gate was given.
    """
    return isinstance(value, Mapping) and "results_path" in value and "counts" in value


def accepted_sends(xcom: Any) -> Any:
    """What a delivery gate awaits from a bulk XCom written without ``gate_ids`` (an older provider):
    its ids, or, for a batch too big to carry them in the XCom, the accepted rows of its results file
    (streamed); any other value unchanged.

    :param xcom: a bulk operator's XCom, or anything else the gate accepts.
    """
    if not is_bulk_xcom(xcom):
        return xcom
    if xcom.get("ids_in_xcom"):
        return {"messages": xcom["messages"]} if "messages" in xcom else list(xcom.get("sends") or [])
    return [row for row in iter_results(xcom["results_path"]) if row.get("status") in ACCEPTED_STATUSES]
