"""One bulk source sent by several partitions at once (as mapped instances on several workers would),
against the Sender25 emulator with a real rate limit: every row once, one ``rate_limit`` for the whole
task, no second (the first included) above it."""

from __future__ import annotations

import functools
import multiprocessing
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_mail._bulk.results import read_results
from airflow_provider_mail.exceptions import MailConfigurationError
from airflow_provider_mail.hooks.sender25 import SEND_MESSAGE_PATH
from airflow_provider_mail.operators.bulk import Sender25BulkSendOperator

FAST = {"retry_backoff": 0.01, "timeout": 5, "connect_timeout": 5}


@pytest.fixture
def sender25(monkeypatch, sender25_emulator):
    monkeypatch.setenv("AIRFLOW_CONN_SENDER25_DEFAULT", sender25_emulator.airflow_connection(**FAST))
    return sender25_emulator


def mapped_context(map_index: int, instances: int) -> dict:
    """A mapped task instance's context: Airflow 3 asks the task instance for the count, 2 has it."""
    ti = SimpleNamespace(
        dag_id="statements",
        task_id="bulk",
        run_id="manual__1",
        map_index=map_index,
        try_number=1,
        max_tries=1,
        get_ti_count=lambda **_: instances,
    )
    return {"ti": ti, "ds": "2026-11-22", "params": {}, "expanded_ti_count": instances}


def rows(count: int) -> list[dict]:
    return [{"to": f"c{n}@example.org", "n": n} for n in range(count)]


def partition_operator(tmp_path, index: int, count: int, **kwargs) -> Sender25BulkSendOperator:
    return Sender25BulkSendOperator(
        task_id="bulk",
        rows=kwargs.pop("rows"),
        from_email="billing@example.com",
        subject="Statement {{ row.n }}",
        plain_body="Hello {{ row.n }}.",
        results_path=str(tmp_path / f"results-{index}.jsonl"),
        partition=(index, count),
        **kwargs,
    )


def run_together(operators: list[Callable[[], Sender25BulkSendOperator]], contexts: list[dict]) -> list[dict]:
    """Start every instance at the same moment, each in its own process (as mapped instances run in
    their own task processes, on one machine or several); return their XComs."""
    fork = multiprocessing.get_context("fork")
    start = fork.Barrier(len(operators))
    answers: Any = fork.Queue()

    def run(position: int) -> None:
        try:
            operator = operators[position]()
            operator.render_template_fields(contexts[position])
            start.wait(30)
            answers.put((position, operator.execute(contexts[position])))
        except BaseException as err:
            answers.put((position, f"{type(err).__name__}: {err}"))

    processes = [fork.Process(target=run, args=(n,)) for n in range(len(operators))]
    for process in processes:
        process.start()
    results = dict(answers.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(30)
    failed = [result for result in results.values() if isinstance(result, str)]
    assert not failed, failed
    return [results[n] for n in range(len(operators))]


def peak_per_second(timestamps: list[float]) -> int:
    """The most requests that arrived within any one second (any start, the first second included)."""
    times = sorted(timestamps)
    peak, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= 1.0:
            first += 1
        peak = max(peak, last - first + 1)
    return peak


def test_four_partitions_started_together_send_every_row_once_and_never_above_the_task_rate(
    tmp_path, sender25
):
    # the service allows 60/s; the task asks for 50/s in all, over four instances started together
    sender25.set_network(rate_limit=60, latency=0.02, latency_jitter=0.015)
    source = rows(200)
    operators = [
        functools.partial(partition_operator, tmp_path, n, 4, rows=source, rate_limit=50) for n in range(4)
    ]
    results = run_together(operators, [mapped_context(n, 4) for n in range(4)])

    assert sum(result["counts"]["accepted"] for result in results) == 200
    assert sorted(m.rcpt_to for m in sender25.messages()) == sorted(row["to"] for row in source)
    sends = [r for r in sender25.requests if r.path == SEND_MESSAGE_PATH]
    assert not [r for r in sends if r.rate_limited], "the service had to refuse a send (429)"
    assert len(sends) == 200
    assert peak_per_second([r.timestamp for r in sends]) <= 50


def test_a_partition_sends_every_count_th_row_and_keeps_its_row_numbers(tmp_path, sender25):
    source = rows(10)
    operator = partition_operator(tmp_path, 1, 3, rows=source)
    context = {"ti": SimpleNamespace(**{**vars(mapped_context(0, 1)["ti"]), "map_index": -1}), "params": {}}
    result = operator.execute(context)
    assert result["counts"]["total"] == 3 and result["counts"]["accepted"] == 3
    assert sorted(m.rcpt_to for m in sender25.messages()) == [
        "c1@example.org",
        "c4@example.org",
        "c7@example.org",
    ]
    assert sorted(line["row"] for line in read_results(result["results_path"])) == [1, 4, 7]


@pytest.mark.parametrize("partition", [(4, 4), (-1, 2), (0, 0), "0/4", (1, 2, 3)])
def test_a_bad_partition_is_a_configuration_error_before_anything_is_sent(partition):
    with pytest.raises(MailConfigurationError, match="partition"):
        Sender25BulkSendOperator(task_id="bulk", rows=[], partition=partition)
