"""Exim queue ids: both formats, and the receive time they carry."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from airflow_provider_mail._xmailer.exim import decode_base62, parse_queue_id

SAO_PAULO = ZoneInfo("America/Sao_Paulo")


@pytest.mark.parametrize(
    ("queue_id", "report_time"),
    [("1grzDQ-000866-0o", "04:01:45"), ("1grzDc-00086s-9P", "04:01:21"), ("1grzDi-00087c-PO", "04:01:06")],
)
def test_the_seed_samples_decode_to_a_receive_time_just_before_their_report_time(queue_id, report_time):
    parsed = parse_queue_id(queue_id)
    assert parsed is not None and parsed.style == "classic"
    received_local = parsed.received_at.astimezone(SAO_PAULO)
    reported = datetime.combine(
        received_local.date(), datetime.strptime(report_time, "%H:%M:%S").time(), SAO_PAULO
    )
    assert 0 <= (reported - received_local).total_seconds() < 120


def test_exim_497_ids_are_recognised():
    parsed = parse_queue_id("1grzDQ-0000000866A-00ab")
    assert parsed is not None and parsed.style == "exim497"
    assert parsed.received_at == datetime.fromtimestamp(decode_base62("1grzDQ"), tz=timezone.utc)


@pytest.mark.parametrize("value", ["", "4Xy1Zq3Lk", "1grzDQ-000866", "1grzDQ_000866-0o", "1grz!Q-000866-0o"])
def test_other_ids_are_not_exim(value):
    assert parse_queue_id(value) is None


def test_base62_digit_order_is_digits_upper_lower():
    assert [decode_base62(c) for c in "09AZaz"] == [0, 9, 10, 35, 36, 61]
