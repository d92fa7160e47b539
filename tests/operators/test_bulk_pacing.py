"""How a bulk send keeps its workers busy: chunks of whole rounds of sends, and a short GIL switch
interval while it sends (the xmailer emulator over loopback; speed itself lives in bench/bulk_send.py)."""

from __future__ import annotations

import sys

import pytest

from airflow_provider_mail._bulk.batch import SEND_SWITCH_INTERVAL, auto_chunk_size
from airflow_provider_mail.operators.bulk import XmailerBulkSendOperator
from tests.operators.test_bulk import bulk, customers, run
from tests.operators.test_bulk import xmailer as xmailer


@pytest.mark.parametrize(
    ("total", "concurrency", "expected"),
    [
        (2000, 8, 104),  # 100 rows are 12.5 rounds of 8: the last round would idle half the workers
        (None, 8, 104),
        (2000, 16, 192),  # 12 rounds of 16 already
        (10, 3, 102),
        (100_000, 8, 1000),
        (100_000, 7, 1000),  # 1,001 would pass the 1,000-row ceiling: the ceiling wins
        (49_000, 7, 980),
        (1_000_000, 100, 1200),  # 12 rounds of 100 workers, as before
    ],
)
def test_auto_chunks_are_whole_rounds_of_sends_within_the_bounds(total, concurrency, expected):
    assert auto_chunk_size(total, concurrency) == expected


class Observed(XmailerBulkSendOperator):
    """Notes, after each chunk, the rows done and the interpreter's switch interval."""

    def after_chunk(self, progress):
        self.seen.append((progress.done, sys.getswitchinterval()))


def test_a_bulk_send_settles_chunks_of_whole_rounds(tmp_path, xmailer):
    operator = bulk(tmp_path, customers(208), Observed, max_concurrency=8)
    operator.seen = []
    result = run(operator)
    assert result["counts"]["accepted"] == 208
    assert [done for done, _ in operator.seen] == [104, 208]


def test_a_bulk_send_runs_with_a_short_switch_interval_and_restores_it(tmp_path, xmailer):
    before = sys.getswitchinterval()
    assert before > SEND_SWITCH_INTERVAL
    operator = bulk(tmp_path, customers(30), Observed, max_concurrency=4, ledger_chunk_size=10)
    operator.seen = []
    run(operator)
    assert len(operator.seen) == 3
    assert all(interval == SEND_SWITCH_INTERVAL for _, interval in operator.seen)
    assert sys.getswitchinterval() == before
