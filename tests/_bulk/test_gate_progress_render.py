"""The shared gate, the progress cadence and per-row rendering, with fake clocks (no sleeping)."""

from __future__ import annotations

import logging

import jinja2
import pytest

from airflow_provider_mail._bulk.gate import SendGate
from airflow_provider_mail._bulk.progress import Progress
from airflow_provider_mail._bulk.render import RowTemplate
from airflow_provider_mail._bulk.results import describe_error
from airflow_provider_mail.exceptions import MailConfigurationError, Sender25ValidationError


class FakeTime:
    def __init__(self):
        self.now = 100.0
        self.slept = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_a_hold_makes_every_later_sender_wait_until_it_ends():
    time = FakeTime()
    gate = SendGate(clock=time.clock, sleep=time.sleep)
    gate.hold(2.0)  # one sender got 429 + Retry-After: 2
    gate.wait_turn()  # another sender, about to send
    gate.wait_turn()
    assert time.slept == [2.0] and time.now == 102.0
    assert gate.holds == 1


def test_sleep_after_failure_holds_everyone_for_the_hooks_wait():
    time = FakeTime()
    gate = SendGate(clock=time.clock, sleep=time.sleep)
    gate.sleep_after_failure(1.5)
    assert time.now == 101.5 and gate.held_seconds == pytest.approx(1.5)


def test_the_rate_limit_spaces_sends_evenly():
    time = FakeTime()
    gate = SendGate(rate_limit=4, clock=time.clock, sleep=time.sleep)
    for _ in range(5):
        gate.wait_turn()
    assert time.slept == [0.25, 0.25, 0.25, 0.25]


def test_a_rate_limit_must_be_positive():
    with pytest.raises(MailConfigurationError):
        SendGate(rate_limit=0)


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_progress_logs_at_most_once_per_interval_with_rate_eta_and_failures():
    time = FakeTime()
    log = logging.getLogger("bulk-progress-test")
    handler = Lines()
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    progress = Progress(100, log, interval=10, clock=time.clock)
    for n in range(100):
        time.now += 0.5  # 2 rows a second: a line every 20 rows
        progress.record("failed" if n == 3 else "accepted")
    progress.report(final=True)
    assert len(handler.lines) == 100 * 0.5 / 10 + 1
    assert handler.lines[0].startswith("bulk send: 20/100 rows (20%); accepted 19")
    assert (
        "failed 1" in handler.lines[0] and "2.0 msg/s" in handler.lines[0] and "ETA 40 s" in handler.lines[0]
    )
    assert handler.lines[-1].endswith("finished in 50.0 s")


def test_a_row_template_renders_with_the_task_env_filters_the_context_and_the_row():
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters["brl"] = lambda value: f"R$ {value:.2f}".replace(".", ",")
    template = RowTemplate(env, "{{ row.name }} deve {{ row.total | brl }} em {{ ds }}", name="subject")
    assert template.render({"ds": "2026-11-22"}, {"name": "Ana", "total": 12.5}) == (
        "Ana deve R$ 12,50 em 2026-11-22"
    )


def test_lists_and_dicts_are_rendered_item_by_item_and_plain_values_pass_through():
    env = jinja2.Environment()
    headers = RowTemplate(env, {"X-Customer": "{{ row.id }}", "X-Fixed": "1"}, name="headers")
    assert headers.render({}, {"id": 7}) == {"X-Customer": "7", "X-Fixed": "1"}
    assert RowTemplate(env, None, name="cc").render({}, {}) is None


def test_a_body_file_is_loaded_from_the_search_path(tmp_path):
    (tmp_path / "statement.html").write_text("<p>{{ row.name }}</p>")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(tmp_path)))
    assert RowTemplate(env, "statement.html", name="html_body", files=True).render({}, {"name": "Bia"}) == (
        "<p>Bia</p>"
    )


def test_describe_error_names_class_code_and_text():
    error = Sender25ValidationError("bad address", code="InvalidAddress")
    described = describe_error(error)
    assert described["error"] == "Sender25ValidationError" and described["code"] == "InvalidAddress"
