"""Settled rows are packed per chunk: the ledger record stays small, and a retry still finds every row."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from airflow_provider_mail._bulk.packing import EarlierRows, pack_chunk
from airflow_provider_mail._ledger import LedgerRecord


def record() -> LedgerRecord:
    return LedgerRecord(key=None, generation=1, expires_at=datetime(2100, 1, 1, tzinfo=timezone.utc))  # type: ignore[arg-type]


def result(index: int) -> dict:
    rcpt = f"c{index}@example.org"
    return {
        "message_id": f"{index:08d}-uuid@rp.example",
        "messages": {rcpt: {"id": index, "token": "T0k3nT0k3nT0k3n0"}},
    }


def test_a_settled_chunk_becomes_one_entry_and_each_row_is_found_again():
    rec = record()
    rec.rows["5"] = {"state": "sending", "try_number": 1, "recipients": ["c5@example.org"]}
    pack_chunk(rec, 1, {i: ([f"c{i}@example.org"], result(i)) for i in range(0, 100)})
    assert list(rec.rows) == ["packed:1:0-99"]  # the sending row of index 5 is gone
    earlier = EarlierRows(rec)
    assert earlier.get(57) == {
        "state": "accepted",
        "try_number": 1,
        "recipients": ["c57@example.org"],
        "result": result(57),
    }
    assert earlier.get(100) is None


def test_chunks_of_different_tries_may_overlap_and_unknown_rows_stay_loose():
    rec = record()
    pack_chunk(rec, 1, {i: ([f"c{i}@example.org"], result(i)) for i in range(0, 50)})
    rec.rows["60"] = {"state": "sending", "try_number": 1, "recipients": ["c60@example.org"]}
    pack_chunk(rec, 2, {i: ([f"c{i}@example.org"], result(i)) for i in range(50, 100) if i != 60})
    earlier = EarlierRows(rec)
    assert earlier.get(10)["try_number"] == 1 and earlier.get(70)["try_number"] == 2
    assert earlier.get(60)["state"] == "sending"


def test_the_record_costs_a_few_dozen_bytes_per_row_not_a_dict_each():
    rec = record()
    for first in range(0, 100_000, 1000):
        pack_chunk(rec, 1, {i: ([f"c{i}@example.org"], result(i)) for i in range(first, first + 1000)})
    stored = json.dumps(rec.rows)
    assert len(rec.rows) == 100
    assert len(stored) / 100_000 < 120  # bytes per row in the saved record (a row was ~300 unpacked)
