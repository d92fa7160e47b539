"""Settled rows of a bulk send, packed per chunk so the ledger record stays small at any batch size.

A send-ledger record keeps one row per *unsettled* data row (``sending``). Once a chunk is settled,
its accepted rows move into one packed entry (zlib-compressed JSON, base64) keyed
``packed:<try>:<first>-<last>``: 100,000 rows cost a few megabytes in the record instead of a Python
dict per row. A retry reads them back one chunk at a time, in row order.
"""

from __future__ import annotations

import base64
import bisect
import json
import zlib
from typing import Any

from airflow_provider_mail._ledger import LedgerRecord, RowState

PACKED_PREFIX = "packed:"


def pack_chunk(
    record: LedgerRecord, try_number: int, accepted: dict[int, tuple[list[str], dict[str, Any]]]
) -> None:
    """Move a settled chunk's accepted rows into one packed entry of ``record``.

    :param record: the ledger record (its per-row ``sending`` entries of these rows are removed).
    :param try_number: the try that sent them.
    :param accepted: row index → (recipients, the service's result).
    """
    if not accepted:
        return
    first, last = min(accepted), max(accepted)
    for index in accepted:
        record.rows.pop(str(index), None)
    body = json.dumps({str(i): [r, result] for i, (r, result) in accepted.items()}, separators=(",", ":"))
    record.rows[f"{PACKED_PREFIX}{try_number}:{first}-{last}"] = {
        "state": RowState.ACCEPTED.value,
        "try_number": try_number,
        "result": {"packed": base64.b64encode(zlib.compress(body.encode(), 6)).decode("ascii")},
    }


class EarlierRows:
    """What earlier tries accepted, looked up by row index; unpacks one chunk at a time.

    :param record: the ledger record as loaded.
    """

    def __init__(self, record: LedgerRecord) -> None:
        self._loose = {
            int(key): row
            for key, row in record.rows.items()
            if not key.startswith(PACKED_PREFIX) and key.isdigit()
        }
        spans = []
        for key, row in record.rows.items():
            if key.startswith(PACKED_PREFIX):
                first, last = (int(n) for n in key.rsplit(":", 1)[1].split("-"))
                spans.append((first, last, row))
        spans.sort(key=lambda span: span[0])
        self._spans = spans
        self._starts = [span[0] for span in spans]
        self._open: tuple[int, dict[str, Any]] | None = None

    def get(self, index: int) -> dict[str, Any] | None:
        """The row an earlier try left for ``index`` (``state``, ``try_number``, ``recipients``, ``result``).

        :param index: the data row's index.
        """
        loose = self._loose.get(index)
        if loose is not None:
            return loose
        position = bisect.bisect_right(self._starts, index) - 1
        while position >= 0:  # spans of different tries may overlap: look at each that covers it
            first, last, row = self._spans[position]
            if first <= index <= last:
                found = self._unpacked(position, row).get(str(index))
                if found is not None:
                    recipients, result = found
                    return {
                        "state": RowState.ACCEPTED.value,
                        "try_number": row["try_number"],
                        "recipients": recipients,
                        "result": result,
                    }
            position -= 1
        return None

    def _unpacked(self, position: int, row: dict[str, Any]) -> dict[str, Any]:
        if self._open is None or self._open[0] != position:
            body = zlib.decompress(base64.b64decode(row["result"]["packed"]))
            self._open = (position, json.loads(body))
        return self._open[1]
