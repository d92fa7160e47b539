"""What the send ledger writes per row of a bulk send, at 10,000 and 100,000 rows: it must be flat.

The bulk operator runs over a JSONL file with instant stand-in clients (no network:
``bench.bulk_send``), its ledger in a local directory (``file://``); every value the ledger writes
is counted at the backend (``ObjectStorageBackend.write``). Reported per size: bytes written, bytes
per row, writes, the largest single value (it must stay under Airflow's 65,535-byte task state value
limit, ``[state_store] max_value_storage_bytes``, and MySQL's ``TEXT``), the first try's wall time,
and the wall time of a retry that finds every row sent (it reads the whole ledger back).

Issue 15 measured the old ledger (one record rewritten whole on every chunk): 18.9 MB written for
5,000 rows, ~0.7 GB for 100,000, and a record past 16 MiB at ~230,000 rows.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

#: Largest value Airflow's task state store takes without a warning (and MySQL's TEXT holds).
VALUE_LIMIT = 65_535
SIZES = (10_000, 100_000)
SMOKE_SIZES = (300, 1_200)


def measure(count: int) -> dict[str, Any]:
    """One bulk send of ``count`` rows and its retry; what the ledger wrote.

    :param count: rows in the batch.
    """
    import bench.bulk_send as bulk_send
    from airflow_provider_mail._ledger.backends import ObjectStorageBackend
    from bench.bulk_send import make_rows, no_network_operator_class, task_context

    written: list[int] = []
    original = ObjectStorageBackend.write

    def counting(self: Any, key: Any, record: dict[str, Any], *rest: Any) -> None:
        written.append(len(json.dumps(record, sort_keys=True)))
        original(self, key, record, *rest)

    os.environ["AIRFLOW__MAIL_PROVIDER__SEND_LEDGER"] = Path(
        tempfile.mkdtemp(prefix="bench-ledger-")
    ).as_uri()
    rows = Path(tempfile.mkdtemp(prefix="bench-rows-")) / "rows.jsonl"
    with rows.open("w") as out:
        for row in make_rows(count, prefix=f"l{count}-"):
            out.write(json.dumps(row) + "\n")
    offline = no_network_operator_class()
    saved = bulk_send.bulk_operator_class
    bulk_send.bulk_operator_class = lambda: offline
    ObjectStorageBackend.write = counting  # type: ignore[method-assign]
    context = task_context()
    try:
        started = time.perf_counter()
        _execute(str(rows), context)
        first = time.perf_counter() - started
        first_try = list(written)
        written.clear()
        context["ti"].try_number = 2  # a retry of the same task instance: every row was sent
        started = time.perf_counter()
        retried = _execute(str(rows), context)
        retry = time.perf_counter() - started
    finally:
        ObjectStorageBackend.write = original  # type: ignore[method-assign]
        bulk_send.bulk_operator_class = saved
    total = sum(first_try)
    return {
        "rows": count,
        "bytes_written": total,
        "bytes_per_row": round(total / count, 1),
        "writes": len(first_try),
        "largest_value_bytes": max(first_try),
        "first_try_seconds": round(first, 2),
        "retry_seconds": round(retry, 2),
        "retry_sent_earlier": retried["counts"]["sent_earlier"],
    }


def _execute(rows: str, context: dict[str, Any]) -> dict[str, Any]:
    from bench.bulk_send import make_bulk

    operator = make_bulk(rows)
    log = io.StringIO()  # the task log (structlog prints it to stdout): kept out of the bench's output
    with contextlib.redirect_stdout(log):
        operator.render_template_fields(context)
        return operator.execute(context)  # type: ignore[no-any-return]


def main(smoke: bool = False) -> dict[str, Any]:
    """Bytes the ledger writes per row at two sizes, and whether that is flat.

    :param smoke: tiny sizes (seconds), for CI.
    """
    sizes = SMOKE_SIZES if smoke else SIZES
    measured = {str(size): measure(size) for size in sizes}
    small, big = (measured[str(size)] for size in sizes)
    ratio = big["bytes_per_row"] / small["bytes_per_row"]
    largest = max(m["largest_value_bytes"] for m in measured.values())
    return {
        "sizes": measured,
        "per_row_ratio": round(ratio, 3),
        "flat": ratio <= 1.2,
        "largest_value_bytes": largest,
        "largest_value_fits": largest < VALUE_LIMIT,
        "target": (
            f"bytes per row flat (ratio <= 1.2 from {sizes[0]:,} to {sizes[1]:,} rows); "
            f"every value < {VALUE_LIMIT:,} B"
        ),
        "targets": {}
        if smoke
        else {
            "ledger bytes written per row flat from 10k to 100k rows": {
                "met": ratio <= 1.2,
                "measured": round(ratio, 3),
                "unit": "x (100k over 10k)",
            },
            "every ledger value under Airflow's 65,535-byte task state limit": {
                "met": largest < VALUE_LIMIT,
                "measured": largest,
                "unit": "B",
            },
        },
    }


if __name__ == "__main__":
    print(json.dumps(main(smoke="--smoke" in sys.argv), indent=2))
