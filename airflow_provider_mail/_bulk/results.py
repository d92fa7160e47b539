"""The per-row results of a bulk send: one JSON line per row, and the named error of a failed row.

Each line is ``{"row": index, "status": …, "to": [...], …}`` where ``status`` is ``"accepted"``
(with the service's ids), ``"sent_earlier"`` (accepted by an earlier try; its ids from the ledger),
``"failed"`` (``error`` class name, ``code``, ``text``: nothing was sent) or ``"unknown"`` (the
send may or may not have been accepted: not re-sent). Only ids and addresses: never a body.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any

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


class ResultsWriter:
    """Writes one JSON line per row to a local path or an object-storage URL, as rows finish.

    :param target: the path or URL (``s3://bucket/key.jsonl``, ``file:///…``).
    """

    def __init__(self, target: str) -> None:
        self.target = str(target)
        self.rows = 0
        self._raw: Any = None
        self._text: IO[str] | None = None

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

    with open_text(target) as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


#: Result statuses whose rows the service accepted (their ids are in the line).
ACCEPTED_STATUSES = frozenset({"accepted", "sent_earlier"})


def accepted_sends(xcom: Any) -> Any:
    """What a delivery gate awaits from a bulk send's XCom: its ids, or, for a batch too big to carry
    them in the XCom, the accepted rows of its results file (streamed); any other value unchanged.

    :param xcom: a bulk operator's XCom, or anything else the gate accepts.
    """
    if not (isinstance(xcom, dict) and "results_path" in xcom and "counts" in xcom):
        return xcom
    if xcom.get("ids_in_xcom"):
        return {"messages": xcom["messages"]} if "messages" in xcom else list(xcom.get("sends") or [])
    return [row for row in iter_results(xcom["results_path"]) if row.get("status") in ACCEPTED_STATUSES]
