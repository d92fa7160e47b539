"""Latency and rate limit in front of both emulators' HTTP endpoints (and latency on the relay).

Concurrency is checked from the server's own request log — every delayed request had arrived
before the first one was answered — never from client-side wall-clock durations.
"""

from __future__ import annotations

import argparse
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_mail.testing import Fault, RequestRecord, Sender25Emulator, XmailerEmulator
from airflow_provider_mail.testing.__main__ import build_parser, run_sender25, run_xmailer
from airflow_provider_mail.testing._network import NetworkConditions, NetworkSettings

from .test_sender25_emulator import SEND, VALID, call
from .test_xmailer_emulator import MESSAGE, SENDER, report, smtp


def concurrently(count: int, request: Any) -> list[requests.Response]:
    """Fire ``count`` requests at once (a barrier releases them together)."""
    barrier = threading.Barrier(count)

    def one(_: int) -> requests.Response:
        barrier.wait(timeout=10)
        return request()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def all_in_flight_together(records: list[RequestRecord]) -> bool:
    """Whether the last request arrived before the first answer was ready (they overlapped)."""
    answered = [record.answered for record in records]
    assert None not in answered
    return max(record.timestamp for record in records) < min(a for a in answered if a is not None)


def admin(base_url: str, method: str, route: str, payload: Any = None) -> requests.Response:
    return requests.request(method, f"{base_url}/_emulator/{route}", json=payload, timeout=5)


# -- latency ------------------------------------------------------------------------------------


def test_delayed_requests_are_served_side_by_side(make_emulator):
    emu = make_emulator(latency=0.5)
    responses = concurrently(12, lambda: call(emu, SEND, VALID))
    assert [response.status_code for response in responses] == [200] * 12
    records = emu.requests
    assert len(records) == 12 and {record.latency for record in records} == {0.5}
    # Served one after the other, the 12th would arrive 5.5 s after the 1st was answered.
    assert all_in_flight_together(records)
    assert len(emu.messages()) == 12


def test_jitter_spreads_the_delay_around_the_latency(make_emulator):
    emu = make_emulator(latency=0.05, latency_jitter=0.01)
    for _ in range(8):
        call(emu, SEND, VALID)
    delays = [record.latency for record in emu.requests]
    assert all(0.04 <= delay <= 0.06 for delay in delays)
    assert len(set(delays)) > 1


def test_latency_answer_arrives_no_sooner_than_the_delay(sender25_emulator):
    sender25_emulator.set_network(latency=0.2)
    started = time.monotonic()
    assert call(sender25_emulator, SEND, VALID).json()["status"] == "success"
    assert time.monotonic() - started >= 0.2  # a lower bound: cannot flake
    [record] = sender25_emulator.requests
    assert record.answered is not None and record.answered - record.timestamp >= 0.2


def test_admin_requests_are_never_delayed(make_emulator):
    emu = make_emulator(latency=30)
    assert admin(emu.base_url, "GET", "health").json()["network"]["latency"] == 30
    assert emu.set_network(latency=0).latency == 0  # or the fixture's stop() would wait


# -- rate limit ---------------------------------------------------------------------------------


def test_retry_after_is_the_wait_for_the_next_token_rounded_up():
    bucket = NetworkConditions(NetworkSettings(rate_limit=0.4, rate_limit_burst=1))
    assert bucket.admit(1000.0) is None
    assert bucket.admit(1000.0) == 3  # 2.5 s to the next token
    assert bucket.admit(1001.5) == 1  # 0.6 of a token there: 1 s more
    assert bucket.admit(1002.5) is None
    assert bucket.admit(999.0) == 3  # a clock set back never drains the bucket further


def test_rate_limit_answers_429_with_an_integer_retry_after(make_emulator):
    emu = make_emulator(rate_limit=0.01, rate_limit_burst=2)  # one token per 100 s
    responses = [call(emu, SEND, VALID) for _ in range(5)]
    assert [response.status_code for response in responses] == [200, 200, 429, 429, 429]
    for refused in responses[2:]:
        assert refused.headers["Retry-After"].isdigit()
        assert 1 <= int(refused.headers["Retry-After"]) <= 100
        assert "429 Too Many Requests" in refused.text
    records = emu.requests
    assert sum(record.rate_limited for record in records) == 3
    assert [record.reached_app for record in records] == [True, True, False, False, False]
    assert len(emu.messages()) == 2  # a refused send stores nothing


def test_the_bucket_refills_with_the_emulator_clock(make_emulator):
    emu = make_emulator(rate_limit=0.01, rate_limit_burst=1)
    assert call(emu, SEND, VALID).status_code == 200
    assert call(emu, SEND, VALID).status_code == 429
    emu.advance(100)
    assert call(emu, SEND, VALID).status_code == 200
    assert call(emu, SEND, VALID).status_code == 429


def test_concurrent_burst_is_cut_at_the_bucket_size(make_emulator):
    emu = make_emulator(rate_limit=0.01, rate_limit_burst=5)
    statuses = sorted(response.status_code for response in concurrently(12, lambda: call(emu, SEND, VALID)))
    assert statuses == [200] * 5 + [429] * 7


def test_a_refused_request_consumes_no_fault(make_emulator):
    emu = make_emulator(rate_limit=0.01, rate_limit_burst=1)
    call(emu, SEND, VALID)
    emu.inject(Fault.HTTP_503)
    assert call(emu, SEND, VALID).status_code == 429
    emu.advance(100)
    assert call(emu, SEND, VALID).status_code == 503


def test_reset_refills_the_bucket_and_keeps_the_setting(make_emulator):
    emu = make_emulator(rate_limit=0.01, rate_limit_burst=1)
    call(emu, SEND, VALID)
    emu.reset()
    assert call(emu, SEND, VALID).status_code == 200
    assert call(emu, SEND, VALID).status_code == 429


def test_bad_settings_are_refused(sender25_emulator):
    for changes, message in (
        ({"latency": -1}, "negative"),
        ({"rate_limit": 0}, "positive"),
        ({"rate_limit_burst": 0}, "at least 1"),
        ({"speed": 1}, "unknown network setting"),
    ):
        with pytest.raises(ValueError, match=message):
            sender25_emulator.set_network(**changes)
        assert admin(sender25_emulator.base_url, "POST", "network", changes).status_code == 400


# -- the ways to set them -----------------------------------------------------------------------


def test_admin_endpoint_sets_and_clears_the_conditions(sender25_emulator):
    url = sender25_emulator.base_url
    body = admin(url, "POST", "network", {"rate_limit": 0.01, "rate_limit_burst": 1}).json()
    assert body == {"latency": 0.0, "latency_jitter": 0.0, "rate_limit": 0.01, "rate_limit_burst": 1}
    assert call(sender25_emulator, SEND, VALID).status_code == 200
    assert call(sender25_emulator, SEND, VALID).status_code == 429
    admin(url, "POST", "network", {"rate_limit": None, "latency": 0.01})
    assert admin(url, "GET", "network").json()["rate_limit"] is None
    assert call(sender25_emulator, SEND, VALID).status_code == 200
    assert sender25_emulator.requests[-1].latency == 0.01


@pytest.mark.sender25_emulator(rate_limit=0.01, rate_limit_burst=1, latency=0.01)
def test_the_fixture_takes_settings_from_a_marker(sender25_emulator):
    assert sender25_emulator.network.latency == 0.01
    assert call(sender25_emulator, SEND, VALID).status_code == 200
    assert call(sender25_emulator, SEND, VALID).status_code == 429


@pytest.mark.xmailer_emulator(rate_limit=0.01, rate_limit_burst=1, report_format="json")
def test_the_xmailer_fixture_takes_settings_from_a_marker(xmailer_emulator):
    assert xmailer_emulator.report_format == "json"
    assert report(xmailer_emulator).status_code == 200
    refused = report(xmailer_emulator)
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 100


@pytest.mark.parametrize("service", ["sender25", "xmailer"])
def test_cli_options_set_the_conditions(tmp_path: Path, service: str):
    ready = tmp_path / "url"
    ports = ["--port", "0"] if service == "sender25" else ["--smtp-port", "0", "--http-port", "0"]
    options = [
        "--latency",
        "0.05",
        "--latency-jitter",
        "0.01",
        "--rate-limit",
        "2",
        "--rate-limit-burst",
        "3",
    ]
    args: argparse.Namespace = build_parser().parse_args(
        [service, *ports, *options, "--ready-file", str(ready)]
    )
    stop = threading.Event()
    runner = run_sender25 if service == "sender25" else run_xmailer
    thread = threading.Thread(target=runner, args=(args, stop))
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert thread.is_alive() and time.monotonic() < deadline
            time.sleep(0.02)
        network = admin(ready.read_text().strip(), "GET", "health").json()["network"]
    finally:
        stop.set()
        thread.join(10)
    assert network == {"latency": 0.05, "latency_jitter": 0.01, "rate_limit": 2.0, "rate_limit_burst": 3}


# -- xmailer ------------------------------------------------------------------------------------


def test_xmailer_report_requests_are_delayed_side_by_side(make_xmailer):
    emu: XmailerEmulator = make_xmailer(latency=0.5)
    responses = concurrently(8, lambda: report(emu))
    assert [response.status_code for response in responses] == [200] * 8
    assert all_in_flight_together(emu.requests)


def test_xmailer_report_rate_limit(make_xmailer):
    emu: XmailerEmulator = make_xmailer(rate_limit=0.01, rate_limit_burst=2)
    responses = [report(emu) for _ in range(4)]
    assert [response.status_code for response in responses] == [200, 200, 429, 429]
    assert all(response.headers["Retry-After"].isdigit() for response in responses[2:])
    assert sum(record.rate_limited for record in emu.requests) == 2


def test_relay_answers_the_end_of_data_no_sooner_than_the_latency(make_xmailer):
    emu: XmailerEmulator = make_xmailer(latency=0.3)
    with smtp(emu) as client:
        started = time.monotonic()
        client.sendmail(SENDER, ["ana@example.org"], MESSAGE)
        assert time.monotonic() - started >= 0.3  # a lower bound: cannot flake
    assert len(emu.messages) == 1


def test_both_emulators_take_the_same_settings():
    settings = {"latency": 0.01, "latency_jitter": 0.0, "rate_limit": 3.0, "rate_limit_burst": 4}
    assert Sender25Emulator(**settings).network.as_dict() == settings
    assert XmailerEmulator(**settings).network.as_dict() == settings
