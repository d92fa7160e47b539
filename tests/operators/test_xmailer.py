"""XmailerSendEmailOperator and XmailerReportOperator against the emulator (real rendering and execute)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from airflow_provider_mail._shared.task_context import TRACE_HEADER
from airflow_provider_mail.exceptions import AmbiguousSendError, MailValidationError, XmailerRecipientsRefused
from airflow_provider_mail.operators.xmailer import XmailerReportOperator, XmailerSendEmailOperator

FAST = {"retry_backoff": 0.01, "timeout": 10}


@pytest.fixture
def xmailer(monkeypatch, xmailer_emulator):
    monkeypatch.setenv("AIRFLOW_CONN_XMAILER_DEFAULT", xmailer_emulator.airflow_connection(**FAST))
    return xmailer_emulator


def context(**extra):
    ti = SimpleNamespace(dag_id="reports", task_id="t", run_id="manual__1", map_index=-1, try_number=1)
    return {"ti": ti, "ds": "2026-11-22", "params": {}, **extra}


def run(operator, **extra):
    ctx = context(**extra)
    operator.render_template_fields(ctx)
    return operator.execute(ctx)


def send_operator(**kwargs):
    defaults = {
        "task_id": "send",
        "to": "ana@example.org",
        "from_email": "n@example.com",
        "subject": "Oi",
        "plain_body": "Olá",
    }
    return XmailerSendEmailOperator(**{**defaults, **kwargs})


# -- send ---------------------------------------------------------------------------------------------
def test_send_returns_queue_id_accepted_refused_and_sent_at(xmailer, tmp_path):
    (tmp_path / "nota.csv").write_text("a;b")
    result = run(
        send_operator(
            to='"Silva, João" <joao@example.org>; bo@bücher.example',
            cc="c@example.org",
            bcc="b@example.org",
            html_body="<p>Olá</p>",
            attachments=[str(tmp_path / "nota.csv")],
        )
    )
    assert json.loads(json.dumps(result)) == result
    (received,) = xmailer.messages
    assert result["queue_id"] == received.queue_id
    assert result["accepted"] == [
        "joao@example.org",
        "bo@xn--bcher-kva.example",
        "c@example.org",
        "b@example.org",
    ]
    assert result["refused"] == {}
    assert datetime.fromisoformat(result["sent_at"]).tzinfo is not None
    parsed = received.parsed
    to_header = [(a.display_name, a.addr_spec) for a in parsed["To"].addresses]
    assert to_header == [("Silva, João", "joao@example.org"), ("", "bo@xn--bcher-kva.example")]
    assert str(parsed[TRACE_HEADER]).strip().startswith("dag_id=reports; task_id=t; run_id=manual__1")
    (attachment,) = list(parsed.iter_attachments())
    assert (attachment.get_filename(), attachment.get_payload(decode=True)) == ("nota.csv", b"a;b")
    assert parsed.get_body(("plain",)).get_content().strip() == "Olá"


def test_a_partly_refused_send_succeeds_and_reports_the_refusals(xmailer):
    xmailer.smtp_inject("reject_rcpt")  # every RCPT of the next transaction is refused
    with pytest.raises(XmailerRecipientsRefused):
        run(send_operator())
    assert xmailer.messages == []


def test_sender_precedence_uses_the_connection_extra(monkeypatch, xmailer_emulator):
    monkeypatch.setenv(
        "AIRFLOW_CONN_XMAILER_DEFAULT",
        xmailer_emulator.airflow_connection(**FAST, from_email="conn@example.com"),
    )
    run(send_operator(from_email=None))
    assert xmailer_emulator.messages[0].mail_from == "conn@example.com"


def test_validation_happens_before_connecting(xmailer):
    with pytest.raises(MailValidationError) as info:
        run(send_operator(to="not-an-address"))
    assert info.value.code == "InvalidAddress" and xmailer.messages == []


def test_an_ambiguous_smtp_send_names_the_trace_header(xmailer):
    xmailer.smtp_inject("drop_after_data")
    with pytest.raises(AmbiguousSendError, match=TRACE_HEADER):
        run(send_operator())
    assert len(xmailer.messages) == 1


# -- report export ------------------------------------------------------------------------------------
def _send_three(xmailer):
    run(send_operator(to=["a@example.org", "b+hardfail@example.org", "c+softfail@example.org"]))
    xmailer.advance(120)
    now = datetime.fromtimestamp(xmailer.now(), timezone.utc)
    return now - timedelta(hours=1), now


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_report_export_writes_every_row_and_returns_counts(xmailer, tmp_path, suffix):
    start, end = _send_three(xmailer)
    path = tmp_path / f"out/report.{suffix}"
    result = run(
        XmailerReportOperator(
            task_id="export", output_path=str(path), start=start.isoformat(), end=end.isoformat()
        )
    )
    assert result["rows"] == 4
    assert result["outcomes"] == {"delivered": 2, "deferred": 1, "failed": 1, "unknown": 0}
    assert result["malformed"] == 0
    if suffix == "csv":
        rows = list(csv.DictReader(path.open(encoding="utf-8")))
    else:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert sorted((r["recipient"], r["outcome"]) for r in rows) == [
        ("a@example.org", "delivered"),
        ("b+hardfail@example.org", "failed"),
        ("c+softfail@example.org", "deferred"),
        ("c+softfail@example.org", "delivered"),
    ]
    assert len({r["queue_id"] for r in rows}) == 1


def test_report_export_to_object_storage_url(xmailer, tmp_path):
    start, end = _send_three(xmailer)
    result = run(
        XmailerReportOperator(
            task_id="export", output_path=f"file://{tmp_path}/r.jsonl", start=start, end=end
        )
    )
    assert result["rows"] == 4 and len((tmp_path / "r.jsonl").read_text().splitlines()) == 4


def test_report_window_defaults_to_the_data_interval(xmailer, tmp_path):
    start, end = _send_three(xmailer)
    operator = XmailerReportOperator(task_id="export", output_path=str(tmp_path / "r.csv"))
    result = run(operator, data_interval_start=start, data_interval_end=end)
    assert result["window"] == {"start": start.isoformat(), "end": end.isoformat()}
    assert result["rows"] == 4


def test_report_counts_malformed_lines(xmailer, tmp_path):
    start, end = _send_three(xmailer)
    xmailer.add_report_rows(["this is not a report line"])
    result = run(
        XmailerReportOperator(task_id="export", output_path=str(tmp_path / "r.csv"), start=start, end=end)
    )
    assert result["malformed"] == 1 and result["rows"] == 4


def test_an_unknown_output_format_is_refused(xmailer, tmp_path):
    with pytest.raises(MailValidationError, match="csv or jsonl"):
        run(
            XmailerReportOperator(
                task_id="export",
                output_path=str(tmp_path / "r.xlsx"),
                start="2026-01-01T00:00:00Z",
                end="2026-01-02T00:00:00Z",
            )
        )
    assert xmailer.requests == []


EXPORT_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from types import SimpleNamespace
    from airflow_provider_mail.operators.xmailer import XmailerReportOperator

    operator = XmailerReportOperator(task_id="export", output_path=sys.argv[1],
                                     start="2026-11-22T00:00:00Z", end="2026-11-23T00:00:00Z")
    result = operator.execute({"ti": SimpleNamespace(), "params": {}})
    # VmHWM, not ru_maxrss: the latter survives exec and would report pytest's own peak
    peak_kb = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    print(json.dumps({"rows": result["rows"], "malformed": result["malformed"], "peak_kb": peak_kb}))
    """
)


def _export_in_fresh_process(xmailer, tmp_path, lines: int) -> dict:
    xmailer.serve_synthetic_report(lines)
    out = tmp_path / f"report-{lines}.csv"
    done = subprocess.run(
        [sys.executable, "-c", EXPORT_SCRIPT, str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_million_line_report_is_exported_in_constant_memory(xmailer, tmp_path):
    small = _export_in_fresh_process(xmailer, tmp_path, 10_000)
    large = _export_in_fresh_process(xmailer, tmp_path, 1_000_000)
    assert (small["rows"], large["rows"]) == (10_000, 1_000_000)
    growth_mb = (large["peak_kb"] - small["peak_kb"]) / 1024
    print(f"peak RSS 10k lines: {small['peak_kb'] / 1024:.1f} MB; 1M lines: {large['peak_kb'] / 1024:.1f} MB")
    assert growth_mb < 30  # a body held in memory would add well over 100 MB


def test_a_message_sent_by_the_operator_appears_in_the_report_with_its_queue_id(xmailer):
    from airflow_provider_mail.hooks.xmailer import XmailerReportHook

    result = run(send_operator(to=["a@example.org", "b@example.org"]))
    xmailer.advance(120)
    now = datetime.fromtimestamp(xmailer.now(), timezone.utc)
    rows = list(XmailerReportHook().get_report(now - timedelta(hours=1), now))
    assert sorted(row.recipient for row in rows) == ["a@example.org", "b@example.org"]
    assert {row.queue_id for row in rows} == {result["queue_id"]}
