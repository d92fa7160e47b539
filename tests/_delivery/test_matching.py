"""What the gate awaits, and how report rows match it (issue 10 items 1 and 3)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timezone

import pytest

from airflow_provider_mail._delivery.policy import (
    SENT_AFTER_TOLERANCE,
    XmailerTarget,
    sender25_message_ids,
    xmailer_targets,
)
from airflow_provider_mail._xmailer.report_parser import Outcome, ReportRow
from airflow_provider_mail.exceptions import MailValidationError

SENT = datetime(2026, 11, 22, 13, 0, 0, 700000, tzinfo=timezone.utc)


def row(delivered_at: datetime) -> ReportRow:
    return ReportRow(
        "1grzDQ-000866-0o", "n@example.com", "Ana@Example.org", delivered_at, "Entregue", Outcome.DELIVERED
    )


@pytest.mark.parametrize(
    "delivered_at",
    [
        pytest.param(SENT.replace(microsecond=0), id="same-second-truncated"),
        pytest.param(SENT.replace(hour=12, minute=59, second=59, microsecond=0), id="relay-clock-behind"),
    ],
)
def test_a_delivery_in_the_same_second_as_the_send_matches(delivered_at):
    target = xmailer_targets({"sender": "n@example.com", "recipient": "ana@example.org", "sent_after": SENT})[
        0
    ]
    assert target.matches(row(delivered_at))


def test_a_row_well_before_the_send_is_not_this_message():
    target = XmailerTarget("k", None, "ana@example.org", "n@example.com", SENT.timestamp())
    earlier = datetime.fromtimestamp(SENT.timestamp() - SENT_AFTER_TOLERANCE - 1, timezone.utc)
    assert not target.matches(row(earlier))


class LazySequence(Sequence):
    """Stands in for Airflow's LazyXComSequence: a Sequence, but none of list, tuple or set."""

    def __init__(self, items: list) -> None:
        self._items = items

    def __getitem__(self, index):  # type: ignore[override]
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)


def generator(items: list) -> Iterator:
    yield from items


@pytest.mark.parametrize("wrap", [list, LazySequence, generator], ids=["list", "sequence", "iterator"])
def test_any_iterable_of_send_xcoms_is_awaited(wrap):
    xcoms = [{"message_id": "m", "messages": {f"r{i}@example.org": {"id": i, "token": "t"}}} for i in (1, 2)]
    assert sender25_message_ids(wrap(xcoms)) == {"1": "r1@example.org", "2": "r2@example.org"}
    sends = [{"queue_id": "1grzDQ-000866-0o", "accepted": ["a@example.org"], "mail_from": "n@example.com"}]
    assert [t.key for t in xmailer_targets(wrap(sends))] == ["1grzDQ-000866-0o/a@example.org"]


@pytest.mark.parametrize("value", [None, True, 3.5, {"messages": {"a": {}}}, [], b"7"])
def test_what_cannot_be_awaited_is_a_named_error(value):
    with pytest.raises(MailValidationError):
        sender25_message_ids(value)
