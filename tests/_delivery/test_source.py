"""What the gate awaits travels as a source of a few KB: XCom pages of bounded size, whatever the batch.

The pages are pushed to a recording task instance here (their JSON round-trips as XCom's does); the
real XCom path, worker to worker and into the trigger, runs under ``airflow dags test`` in
tests/sensors/test_gate_across_machines.py.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from airflow_provider_mail._bulk.results import GATE_PAGES_KEY, ResultsWriter, gate_item
from airflow_provider_mail._delivery.awaited import Sender25Messages, XmailerMessages, service_class
from airflow_provider_mail._delivery.pages import PAGE_MAX_BYTES, PageRef
from airflow_provider_mail._delivery.source import INLINE_MAX_BYTES, for_trigger, gate_source
from airflow_provider_mail.exceptions import AwaitedMessagesUnavailable, MailConfigurationError

BATCH = 100_000


class RecordingTI:
    """A running task instance's identity and XCom pushes (stored as JSON, as XCom stores them)."""

    dag_id, run_id, task_id, map_index = "d", "r", "gate", -1

    def __init__(self) -> None:
        self.xcoms: dict[str, str] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = json.dumps(value)

    def pages(self, ref: PageRef) -> list[list[Any]]:
        return [json.loads(self.xcoms[ref.page_key(n)]) for n in range(ref.pages)]


def sender25_sends(count: int) -> list[dict[str, Any]]:
    """What a mapped single send hands the gate: one send XCom per message."""
    return [
        {
            "message_id": f"m{i}@rp",
            "messages": {f"cliente{i}@example.org": {"id": 10_000_000 + i, "token": "t"}},
        }
        for i in range(count)
    ]


def xmailer_sends(count: int) -> list[dict[str, Any]]:
    return [
        {
            "queue_id": f"1grzDQ-{i:06d}-0o",
            "accepted": [f"cliente{i}@example.org"],
            "mail_from": "n@example.com",
            "sent_at": "2026-01-01T00:00:00+00:00",
        }
        for i in range(count)
    ]


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        pytest.param(Sender25Messages, sender25_sends(BATCH), id="sender25"),
        pytest.param(XmailerMessages, xmailer_sends(BATCH), id="xmailer"),
    ],
)
def test_100k_messages_travel_to_the_trigger_in_a_few_kb_of_bounded_pages(kind, value):
    ti = RecordingTI()
    source = gate_source(value, kind)
    awaited = source.read(kind)
    assert len(awaited.keys) == BATCH
    travelling = for_trigger(source, awaited, ti)
    assert travelling.size() <= INLINE_MAX_BYTES
    (ref,) = travelling.refs
    pages = ti.pages(ref)
    assert ref.items == BATCH and len(pages) == ref.pages > 1
    assert max(len(text) for text in ti.xcoms.values()) <= PAGE_MAX_BYTES
    # the pages read back are the same messages, keys and recipients alike
    again = kind.read(itertools.chain.from_iterable(pages))
    assert again.keys == awaited.keys
    if kind is Sender25Messages:
        assert again.ids == awaited.ids
    else:
        assert again.targets == awaited.targets


def test_a_small_batch_travels_inline_and_pushes_nothing():
    ti = RecordingTI()
    source = gate_source(sender25_sends(3), Sender25Messages)
    assert for_trigger(source, source.read(Sender25Messages), ti) == source and not ti.xcoms


def test_xmailer_items_keep_every_kind_of_target():
    value = ["1grzDQ-000866-0o", ("s@example.com", "t@example.org", 1_700_000_000.0), *xmailer_sends(2)]
    awaited = XmailerMessages.read(value)
    assert XmailerMessages.read(list(awaited.items())).targets == awaited.targets


def test_the_bulk_writer_pages_the_accepted_ids_and_names_them_in_a_reference(tmp_path):
    ti = RecordingTI()
    lines = [
        {
            "row": i,
            "status": "accepted",
            "to": [f"c{i}@x.org"],
            "message_id": "m",
            "messages": {f"c{i}@x.org": {"id": i, "token": "T"}},
        }
        for i in range(3000)
    ]
    lines[7] = {"row": 7, "status": "failed", "to": ["bad"], "error": "X", "code": None, "text": "no"}
    with ResultsWriter(str(tmp_path / "results.jsonl"), ti=ti) as writer:
        for line in lines:
            writer.write(line)
    ref = PageRef.from_json(writer.gate_reference())
    assert (ref.key, ref.items, ref.task_id) == (GATE_PAGES_KEY, 2999, "gate")
    pages = ti.pages(ref)
    assert len(pages) > 1 and max(len(text) for text in ti.xcoms.values()) <= PAGE_MAX_BYTES
    ids = Sender25Messages.read(itertools.chain.from_iterable(pages)).ids
    assert len(ids) == 2999 and "7" not in ids and ids["8"] == "c8@x.org"
    assert "T" not in json.dumps(pages)  # only what the gate needs: no tokens


def test_the_gate_takes_the_bulk_reference_instead_of_the_ids():
    ref = PageRef("d", "r", "send", 3, GATE_PAGES_KEY, pages=120, items=100_000)
    bulk = {
        "counts": {"accepted": 100_000},
        "results_path": "/nowhere",
        "ids_in_xcom": False,
        "gate_ids": ref.as_json(),
    }
    source = gate_source([bulk, bulk], Sender25Messages)  # a mapped bulk: its references, read later
    assert source.refs == [ref, ref] and source.inline == [] and source.size() < 1024


def test_an_older_bulk_xcom_whose_results_file_is_on_another_machine_is_a_named_error(tmp_path):
    missing = str(tmp_path / "elsewhere" / "results.jsonl")
    bulk = {"counts": {"accepted": 5000}, "results_path": missing, "ids_in_xcom": False, "messages": {}}
    with pytest.raises(AwaitedMessagesUnavailable) as info:
        gate_source(bulk, Sender25Messages)
    assert isinstance(info.value, MailConfigurationError) and info.value.where == missing
    assert "another" in str(info.value) and "results_path" in str(info.value) and "s3://" in str(info.value)


def test_gate_item_only_for_accepted_rows():
    assert gate_item({"status": "unknown", "to": ["a"]}) is None
    assert gate_item({"status": "sent_earlier", "queue_id": "q", "accepted": ["a"], "refused": {}}) == {
        "queue_id": "q",
        "accepted": ["a"],
        "mail_from": None,
        "sent_at": None,
    }


def test_an_unknown_service_is_a_value_error():
    with pytest.raises(ValueError, match="xmailer"):
        service_class("pigeon")


def test_a_results_file_on_another_machine_ends_the_wait_and_soft_fail_skips(tmp_path):
    from types import SimpleNamespace

    from airflow_provider_mail._compat import AirflowSkipException
    from airflow_provider_mail.sensors.delivery import Sender25DeliverySensor

    bulk = {"counts": {"accepted": 5000}, "results_path": str(tmp_path / "gone.jsonl"), "ids_in_xcom": False}
    context = {"ti": SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1)}
    with pytest.raises(AwaitedMessagesUnavailable):
        Sender25DeliverySensor(task_id="w", messages=bulk, timeout=5).execute(context)
    with pytest.raises(AirflowSkipException, match="AwaitedMessagesUnavailable"):
        Sender25DeliverySensor(task_id="w", messages=bulk, timeout=5, soft_fail=True).execute(context)
