"""Backoff arithmetic."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_mail._transport.retry import RetryPolicy, parse_retry_after


def test_delay_grows_exponentially_within_jitter_bounds():
    policy = RetryPolicy(backoff=1.0, max_wait=100)
    for retry_number in range(5):
        step = 2**retry_number
        assert step / 2 <= policy.delay(retry_number) <= step


def test_delay_is_capped_and_retry_after_wins_when_longer():
    policy = RetryPolicy(backoff=1.0, max_wait=10)
    assert policy.delay(20) <= 10
    assert policy.delay(0, retry_after=8) == 8
    assert policy.delay(0, retry_after=500) == 10


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7", 7.0), ("", None), (None, None), ("soon", None), ("Sun, 22 Nov 2026 12:00:30 GMT", 30.0)],
)
def test_parse_retry_after(value, expected):
    now = datetime(2026, 11, 22, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after(value, now=now) == expected
