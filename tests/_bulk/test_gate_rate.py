"""``rate_limit`` as a promise over any one second: the even split across a task's instances, and
permits that come back one second after a request's answer (fake clock, real threads for the
per-thread permits, no sleeping)."""

from __future__ import annotations

import threading

import pytest

from airflow_provider_mail._bulk.gate import SendGate, rate_share


class FakeTime:
    def __init__(self):
        self.now = 100.0
        self.slept = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(round(seconds, 6))
        self.now += seconds


def in_thread(action):
    """Run ``action`` on its own thread (each sender is a thread: permits are per thread)."""
    worker = threading.Thread(target=action)
    worker.start()
    worker.join(10)
    assert not worker.is_alive()


@pytest.mark.parametrize(
    ("rate", "instances", "shares"),
    [
        (50, 4, [13, 13, 12, 12]),
        (60, 4, [15, 15, 15, 15]),
        (10, 3, [4, 3, 3]),
        (50.5, 2, [25, 25]),
        (2, 4, [0.5, 0.5, 0.5, 0.5]),  # below one per second per instance: the average share
        (50, 1, [50]),
        (None, 4, [None] * 4),
    ],
)
def test_the_rate_is_split_evenly_over_the_instances_and_the_shares_add_up(rate, instances, shares):
    got = [rate_share(rate, index, instances) for index in range(instances)]
    assert got == shares
    if rate is not None and rate >= instances:
        assert sum(got) == int(rate)


def test_a_slow_request_holds_its_permit_so_no_second_holds_more_than_the_rate():
    time = FakeTime()
    gate = SendGate(rate_limit=2, clock=time.clock, sleep=time.sleep)
    started = []
    finish = {}

    def sender(name):
        def run():
            gate.wait_turn()
            started.append((name, time.now))
            event = finish[name] = threading.Event()
            event.wait(10)
            gate.turn_done()

        return threading.Thread(target=run)

    one, two = sender("one"), sender("two")
    one.start()
    _wait_until(lambda: len(started) == 1)
    two.start()
    _wait_until(lambda: len(started) == 2)
    assert [at for _, at in started] == [100.0, 100.5]  # evenly spaced at 2/s
    # request one's answer arrives at 100.5; a 2/s gate without permits lets the third leave at 101.0,
    # where "one" (which may have reached the service as late as 100.5) and "two" are in the same second
    finish["one"].set()
    one.join(10)
    three = sender("three")
    three.start()
    _wait_until(lambda: len(started) == 3)
    assert started[2][1] == 101.5
    finish["two"].set()
    finish["three"].set()
    two.join(10)
    three.join(10)


def test_a_retry_hands_back_its_permit_and_queues_again():
    time = FakeTime()
    gate = SendGate(rate_limit=1, clock=time.clock, sleep=time.sleep)

    def send_then_retry():
        with gate.turn():
            gate.sleep_after_failure(2.0)  # the hook waits out a 429's Retry-After: 2

    in_thread(send_then_retry)
    # the failed attempt's permit is free 1 s after its answer (101), the hold ends at 102
    assert time.now == 102.0 and gate.holds == 1


def test_without_a_rate_limit_there_are_no_permits_to_wait_for():
    time = FakeTime()
    gate = SendGate(clock=time.clock, sleep=time.sleep)
    for _ in range(50):
        in_thread(gate.wait_turn)
    assert time.slept == []


def _wait_until(condition, timeout=10.0):
    import time as real

    deadline = real.monotonic() + timeout
    while not condition():
        assert real.monotonic() < deadline, "timed out"
        real.sleep(0.01)
