"""The adaptive polling schedule: per-state rules, never more often than the interval, seen within one."""

from __future__ import annotations

import itertools

import pytest

from airflow_provider_mail._delivery.policy import (
    DeliveryPolicy,
    DeliveryStatus,
    MessageOutcome,
    postal_retry_at,
)
from airflow_provider_mail._delivery.schedule import (
    POSTAL_EARLY_PICKUP,
    UNKNOWN_RETRY_CAP,
    DeliveryWatch,
    next_poll,
)

S = DeliveryStatus
IV = 30.0  # poke interval
NOW = 10_000.0
GRACE = DeliveryPolicy(bounce_grace_period=300)
NO_GRACE = DeliveryPolicy()
KEEP_HELD = DeliveryPolicy(fail_on_held=False)


def outcome(status, at=None, retry_at=None):
    return MessageOutcome("1", "a@x.org", status, None, at, None, retry_at)


@pytest.mark.parametrize(
    ("case", "seen", "policy", "expected"),
    [
        ("pending: every interval", outcome(S.PENDING), NO_GRACE, NOW + IV),
        (
            "soft failure, retry known: just before Postal's retry",
            outcome(S.DEFERRED, NOW - 10, NOW + 290),
            NO_GRACE,
            NOW + 290 - POSTAL_EARLY_PICKUP,
        ),
        (
            "soft failure, retry imminent: not before one interval",
            outcome(S.DEFERRED, NOW - 290, NOW + 10),
            NO_GRACE,
            NOW + IV,
        ),
        (
            "soft failure, retry just overdue: every interval",
            outcome(S.DEFERRED, NOW - 400, NOW - 40),
            NO_GRACE,
            NOW + IV,
        ),
        (
            "soft failure, retry long overdue: half the overdue time",
            outcome(S.DEFERRED, NOW - 900, NOW - 400),
            NO_GRACE,
            NOW + 200,
        ),
        (
            "soft failure, retry unknown, fresh: one interval",
            outcome(S.DEFERRED, NOW - 5),
            NO_GRACE,
            NOW + IV,
        ),
        (
            "soft failure, retry unknown: half the time deferred",
            outcome(S.DEFERRED, NOW - 200),
            NO_GRACE,
            NOW + 100,
        ),
        (
            "soft failure, retry unknown, for hours: capped",
            outcome(S.DEFERRED, NOW - 36000),
            NO_GRACE,
            NOW + UNKNOWN_RETRY_CAP,
        ),
        ("delivered, no grace period: never again", outcome(S.DELIVERED, NOW - 5), NO_GRACE, None),
        ("delivered: once at the end of the grace period", outcome(S.DELIVERED, NOW - 5), GRACE, NOW + 295),
        (
            "delivered, grace ending: not before one interval",
            outcome(S.DELIVERED, NOW - 290),
            GRACE,
            NOW + IV,
        ),
        ("delivered, grace over: settled, never again", outcome(S.DELIVERED, NOW - 300), GRACE, None),
        ("held, fails the gate: never again", outcome(S.HELD, NOW), NO_GRACE, None),
        ("held, kept waiting: every interval", outcome(S.HELD, NOW), KEEP_HELD, NOW + IV),
        ("hard failure: never again", outcome(S.FAILED, NOW), NO_GRACE, None),
        ("bounced: never again", outcome(S.BOUNCED, NOW), GRACE, None),
        ("cancelled: never again", outcome(S.CANCELLED, NOW), NO_GRACE, None),
    ],
)
def test_next_poll_per_state(case, seen, policy, expected):
    assert next_poll(seen, NOW, policy, IV) == expected, case


@pytest.mark.parametrize("status", list(DeliveryStatus))
@pytest.mark.parametrize("policy", [NO_GRACE, GRACE, KEEP_HELD])
@pytest.mark.parametrize("age", [0.0, 1.0, 29.0, 31.0, 299.0, 301.0, 5000.0])
@pytest.mark.parametrize("retry_in", [None, -500.0, -31.0, 0.0, 15.0, 45.0, 300.0])
def test_never_more_often_than_the_poke_interval(status, policy, age, retry_in):
    seen = outcome(status, NOW - age, None if retry_in is None else NOW + retry_in)
    following = next_poll(seen, NOW, policy, IV, since=NOW - age)
    assert following is None or following >= NOW + IV


def simulate(timeline, policy, *, start=0.0, until=3000.0, step=1.0):
    """Poll one message by the schedule against ``timeline(t) -> MessageOutcome``.

    Returns the poll times and, per status change, when it became visible and when a poll saw it.
    """
    polls, seen, t, last = [], [], start, None
    due = start
    while t <= until:
        if t >= due:
            current = timeline(t)
            polls.append(t)
            if last is not None and current != last:
                seen.append(t)
            last = current
            due = next_poll(current, t, policy, IV)
            if due is None:
                break
        t += step
    return polls, seen


def test_a_change_while_pending_is_seen_within_one_interval():
    sent_at = 47.0  # the first attempt, at an odd moment between two polls
    polls, seen = simulate(
        lambda t: outcome(S.PENDING) if t < sent_at else outcome(S.DELIVERED, sent_at), NO_GRACE
    )
    assert seen and sent_at <= seen[0] <= sent_at + IV
    assert all(b - a >= IV for a, b in itertools.pairwise(polls))


@pytest.mark.parametrize("lateness", [-POSTAL_EARLY_PICKUP, -10.0, 0.0, 7.0, 2 * IV])
def test_a_retry_on_postals_schedule_is_seen_within_one_interval(lateness):
    first = 20.0
    retry_at = first + 300.0  # what the deliveries say: 5 min after the first soft failure
    retried = retry_at + lateness  # Postal picks it up up to 30 s early, or its queue is late

    def timeline(t):
        if t < first:
            return outcome(S.PENDING)
        if t < retried:
            return outcome(S.DEFERRED, first, retry_at)
        return outcome(S.DELIVERED, retried)

    polls, seen = simulate(timeline, NO_GRACE)
    assert seen[-1] - retried <= IV
    assert all(b - a >= IV for a, b in itertools.pairwise(polls))
    assert len(polls) < (seen[-1] / IV) / 2  # the soft failure is not polled every interval


def test_a_delivered_message_is_polled_once_more_at_the_end_of_the_grace_period():
    def timeline(t):
        return outcome(S.PENDING) if t < 10 else outcome(S.DELIVERED, 10.0)

    polls, _ = simulate(timeline, GRACE)
    assert polls == [0.0, 30.0, 310.0]  # pending, delivered, settled: never again


def test_a_bounce_in_the_grace_period_is_seen_by_the_end_of_it():
    def timeline(t):
        if t < 10:
            return outcome(S.PENDING)
        return outcome(S.DELIVERED, 10.0) if t < 100 else outcome(S.BOUNCED, 100.0)

    polls, seen = simulate(timeline, GRACE)
    assert seen[-1] <= 10.0 + 300 + IV and polls[-1] == seen[-1]


def test_postal_retry_time_from_the_deliveries():
    soft = {"status": "SoftFail", "timestamp": 1000.0, "output": "451 4.7.1 Greylisted, try again later"}
    assert postal_retry_at([soft]) == 1300.0
    assert postal_retry_at([soft, {**soft, "timestamp": 1400.0}]) == pytest.approx(1400.0 + 390.0)
    assert postal_retry_at([{**soft, "output": "451 try again in 2 minutes"}]) == 1120.0
    assert postal_retry_at([{"status": "Sent", "timestamp": 1.0}]) is None
    assert postal_retry_at([{**soft, "timestamp": None}]) is None


def test_the_watch_fetches_only_due_messages_and_rejudges_only_after_a_change():
    watch = DeliveryWatch(["1", "2"], GRACE, IV)
    assert watch.due(0.0) == ["1", "2"]
    watch.record([outcome_for("1", S.DELIVERED, 0.0), outcome_for("2", S.PENDING)], 0.0)
    first = watch.verdict(0.0)
    assert first is not None and first.state == "waiting"
    assert watch.due(30.0) == ["2"]
    watch.record([outcome_for("2", S.PENDING)], 30.0)
    assert watch.verdict(30.0) is first  # nothing changed: not re-judged
    watch.record([outcome_for("2", S.DELIVERED, 31.0)], 60.0)
    assert watch.due(300.0) == ["1"] and watch.next_at["2"] == 331.0
    watch.record([outcome_for("1", S.DELIVERED, 0.0)], 300.0)
    watch.record([outcome_for("2", S.DELIVERED, 31.0)], 331.0)
    final = watch.verdict(331.0)
    assert final is not None and final.state == "success" and watch.next_wake() is None


def outcome_for(key, status, at=None):
    return MessageOutcome(key, None, status, None, at)
