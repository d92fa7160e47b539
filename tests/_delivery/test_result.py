"""A finished wait hands on a bounded summary; every outcome goes to XCom pages any worker reads.

Pages go to an in-memory XCom store here (JSON text, as XCom stores it); the real XCom path runs under
``airflow dags test`` (tests/sensors/test_gate_across_machines.py) and the real services
(tests/real_services/test_gate_pages.py).
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_mail._delivery.pages import PAGE_MAX_BYTES
from airflow_provider_mail._delivery.policy import (
    DeliveryPolicy,
    DeliveryStatus,
    MessageOutcome,
    describe_failures,
    judge,
)
from airflow_provider_mail._delivery.result import CLIP, LISTED, OUTCOMES_KEY, PageTarget, finish
from airflow_provider_mail.exceptions import AwaitedMessagesUnavailable, MailProviderError
from airflow_provider_mail.sensors.delivery import Sender25DeliverySensor
from airflow_provider_mail.xcom import iter_gate_outcomes, read_gate_outcomes

BATCH = 100_000
SUMMARY_MAX_BYTES = 16 * 1024


def outcomes(count: int, service: str, *, failed_every: int = 0, detail: str | None = None):
    """``count`` outcomes as each service keys them; every ``failed_every``-th one bounced."""
    for n in range(count):
        key = str(10_000_000 + n) if service == "sender25" else f"1grzDQ-{n:06d}-0o/c{n}@example.org"
        bounced = failed_every and n % failed_every == 0
        yield MessageOutcome(
            key,
            f"c{n}@example.org",
            DeliveryStatus.BOUNCED if bounced else DeliveryStatus.DELIVERED,
            "Bounced" if bounced else "Sent",
            1_767_225_600.0 + n,
            detail,
        )


@pytest.mark.parametrize("service", ["sender25", "xmailer"])
def test_100k_outcomes_leave_a_summary_of_a_few_kb_and_every_outcome_in_bounded_pages(service, xcom_store):
    verdict = judge(outcomes(BATCH, service), DeliveryPolicy(), now=2e9)
    result = finish(verdict.state, verdict.message, verdict, xcom_store.ti())
    assert len(json.dumps(result)) <= SUMMARY_MAX_BYTES
    assert result["total"] == BATCH and result["counts"]["delivered"] == BATCH and not result["complete"]
    assert len(result["outcomes"]) == LISTED and result["failures"] == {}
    pages = xcom_store.keys(OUTCOMES_KEY)
    assert len(pages) == result["outcome_pages"]["pages"] > 1
    assert max(len(text) for text in xcom_store.values.values()) <= PAGE_MAX_BYTES
    # every outcome, in the batch's order, as the per-message XCom of earlier versions had it
    read = read_gate_outcomes(result)
    assert list(read) == [outcome.key for outcome in verdict.outcomes]
    assert read == verdict.xcom()


def test_failures_are_listed_by_recipient_counted_and_named_in_a_bounded_message(xcom_store):
    verdict = judge(outcomes(BATCH, "sender25", failed_every=10), DeliveryPolicy(), now=2e9)
    assert verdict.state == "failure"
    assert len(verdict.message) < 5_000 and "and 9990 more" in verdict.message
    result = finish(verdict.state, verdict.message, verdict, xcom_store.ti())
    assert result["counts"]["bounced"] == 10_000 and result["counts"]["delivered"] == 90_000
    assert len(result["failures"]) == LISTED
    assert result["failures"]["10000000"] == {
        "status": "bounced",
        "raw_status": "Bounced",
        "at": "2026-01-01T00:00:00+00:00",
        "detail": None,
        "recipient": "c0@example.org",
    }
    assert sum(o["status"] == "bounced" for _, o in iter_gate_outcomes(result)) == 10_000


def test_long_texts_are_cut_in_the_summary_and_kept_whole_in_the_pages(xcom_store):
    detail = "550 " + "x" * 20_000
    verdict = judge(outcomes(50, "xmailer", failed_every=1, detail=detail), DeliveryPolicy(), now=2e9)
    result = finish(verdict.state, verdict.message, verdict, xcom_store.ti())
    assert len(json.dumps(result)) <= 2 * LISTED * (CLIP + 300) + 2_000
    assert all(len(o["detail"]) <= CLIP + 1 for o in result["failures"].values())
    assert {o["detail"] for o in read_gate_outcomes(result).values()} == {detail}
    assert len(describe_failures(verdict.outcomes)) < 5_000


def test_a_small_batch_lists_every_outcome_and_writes_no_page(xcom_store):
    verdict = judge(outcomes(LISTED, "sender25"), DeliveryPolicy(), now=2e9)
    result = finish(verdict.state, verdict.message, verdict, xcom_store.ti())
    assert result["complete"] and result["outcome_pages"] is None and not xcom_store.values
    assert read_gate_outcomes(result) == verdict.xcom()


def test_the_per_message_xcom_of_earlier_versions_still_reads():
    earlier = {
        "7": {"status": "delivered", "raw_status": "Sent", "at": None, "detail": None, "recipient": None}
    }
    assert read_gate_outcomes(earlier) == earlier


def test_a_page_that_is_gone_is_a_named_error(xcom_store):
    verdict = judge(outcomes(5_000, "sender25"), DeliveryPolicy(), now=2e9)
    result = finish(verdict.state, verdict.message, verdict, xcom_store.ti())
    del xcom_store.values[("d", "r", "gate", -1, f"{OUTCOMES_KEY}.1")]
    with pytest.raises(AwaitedMessagesUnavailable, match=r"page 2 of \d+ of the gate's outcomes is missing"):
        read_gate_outcomes(result)


def test_a_result_without_pages_says_so():
    verdict = judge(outcomes(100, "sender25"), DeliveryPolicy(), now=2e9)
    result = finish(verdict.state, verdict.message, verdict, None)  # no task instance to write to
    assert result["outcome_pages"] is None and len(result["outcomes"]) == LISTED
    with pytest.raises(MailProviderError, match="lists 20 of 100 outcomes and no pages hold the rest"):
        read_gate_outcomes(result)


def test_the_trigger_writes_the_pages_of_the_sensors_task_instance(xcom_store):
    """The trigger has no ``ti``: it writes through Airflow to the task instance the sensor named."""
    target = PageTarget("d", "r", "wait", 3)
    verdict = judge(outcomes(1_000, "sender25"), DeliveryPolicy(), now=2e9)
    result = finish(verdict.state, verdict.message, verdict, target)
    assert {key[:4] for key in xcom_store.values} == {("d", "r", "wait", 3)}
    assert result["outcome_pages"]["task_id"] == "wait" and result["outcome_pages"]["map_index"] == 3
    assert len(read_gate_outcomes(result)) == 1_000


def test_an_event_of_an_earlier_trigger_is_summed_up_and_paged_on_resume(xcom_store):
    """A trigger serialized by an earlier version sends every outcome: the sensor bounds its XCom."""
    verdict = judge(outcomes(3_000, "sender25"), DeliveryPolicy(), now=2e9)
    event = {"status": "success", "message": verdict.message, "outcomes": verdict.xcom(), "polls": 2}
    sensor = Sender25DeliverySensor(task_id="gate", messages=[1])
    result = sensor.execute_complete({"ti": xcom_store.ti()}, event)  # type: ignore[arg-type]
    assert len(json.dumps(result)) <= SUMMARY_MAX_BYTES
    assert read_gate_outcomes(result) == verdict.xcom()


def test_the_documented_shape_is_the_one_pushed():
    from typing import get_type_hints

    from airflow_provider_mail.xcom import DeliveryCounts, DeliveryGateResult

    verdict = judge(outcomes(3, "sender25"), DeliveryPolicy(), now=2e9)
    result = finish(verdict.state, verdict.message, verdict, None)
    assert set(result) == set(get_type_hints(DeliveryGateResult))
    assert set(result["counts"]) == set(get_type_hints(DeliveryCounts))
