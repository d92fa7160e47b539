"""The example DAGs run green under `airflow dags test` against the emulator; assert on what it received."""

from __future__ import annotations

import textwrap
from email import message_from_bytes
from email.policy import default

import pytest

from airflow_provider_mail._shared.task_context import TRACE_HEADER
from airflow_provider_mail.hooks.sender25 import SEND_MESSAGE_PATH, SEND_RAW_PATH
from airflow_provider_mail.testing import Fault

pytestmark = pytest.mark.dag_run


def sends(emulator, path=SEND_MESSAGE_PATH):
    return [r for r in emulator.requests if r.path == path]


def test_example_send_delivers_the_invoice_with_template_bodies_attachment_cc_and_tag(
    dags_test, sender25_emulator
):
    dags_test("example_sender25_send")
    messages = sender25_emulator.messages()
    assert sorted(m.rcpt_to for m in messages) == ["ana@example.org", "financeiro@example.org"]
    message = messages[0]
    assert message.subject.startswith("Fatura 2026-0042 (")
    assert "Olá Ana Souza," in message.plain_body and "Total: R$ 1.234,56" in message.plain_body
    assert "<b>2026-0042</b>" in message.html_body
    assert message.attachments == [
        ("fatura-2026-0042.csv", "text/csv", "número;total\n2026-0042;1.234,56\n".encode())
    ]
    assert message.tag == "invoice"
    assert message.headers["X-Invoice-Number"] == "2026-0042"
    assert message.headers[TRACE_HEADER].startswith(
        "dag_id=example_sender25_send; task_id=send_invoice; run_id="
    )
    assert message.headers["Cc"] == "financeiro@example.org"
    assert len(sends(sender25_emulator)) == 1


def test_example_bulk_maps_over_100_recipients_and_sends_exactly_100_messages(dags_test, sender25_emulator):
    """The gate at the end takes the mapped sends' lazy XCom sequence as is (issue 10 item 1)."""
    output = dags_test("example_sender25_bulk", conf={"count": 100})
    assert "sender25 delivery: all 100 message(s) delivered" in output, output[-3000:]
    vip = [m for m in sender25_emulator.messages() if m.tag == "vip"]
    assert sorted(m.subject for m in vip) == [f"Obrigado, Cliente {n}!" for n in (1, 2, 3)]  # expand_kwargs
    messages = [m for m in sender25_emulator.messages() if m.tag == "shipping"]
    assert len(messages) == 100
    assert sorted(m.rcpt_to for m in messages) == sorted(f"cliente{n}@example.org" for n in range(1, 101))
    assert len(sends(sender25_emulator)) == 103
    map_indexes = {m.headers[TRACE_HEADER].split("map_index=")[1].split(";")[0] for m in messages}
    assert map_indexes == {str(i) for i in range(100)}
    assert {m.subject for m in messages} == {"Seu pedido foi enviado"}


def test_example_raw_sends_the_email_message_with_its_inline_image(dags_test, sender25_emulator):
    dags_test("example_sender25_raw")
    (message,) = sender25_emulator.messages()
    assert message.rcpt_to == "ana@example.org" and message.subject == "Novidades de novembro"
    parsed = message_from_bytes(message.raw, policy=default)
    (image,) = [part for part in parsed.walk() if part.get_content_type() == "image/png"]
    assert image["Content-ID"] and image.get_content()[:4] == b"\x89PNG"
    assert parsed["Message-ID"] and message.message_id == parsed["Message-ID"].strip("<>")
    assert parsed[TRACE_HEADER].startswith("dag_id=example_sender25_raw")
    assert len(sends(sender25_emulator, SEND_RAW_PATH)) == 1


def test_example_alerts_sends_one_readable_mail_for_the_failure(dags_test, sender25_emulator):
    dags_test("example_sender25_alerts")
    (message,) = sender25_emulator.messages()
    assert message.rcpt_to == "oncall@example.org"
    assert message.subject == "Airflow: example_sender25_alerts.load_payments failed (try 1)"
    assert "payments file for today is missing" in message.plain_body
    assert "Task: load_payments" in message.plain_body
    assert "payments file for today is missing" in message.html_body


RETRY_DAG = textwrap.dedent(
    """
    from datetime import datetime, timedelta

    from airflow_provider_mail._compat import dag
    from airflow_provider_mail.operators.sender25 import Sender25SendEmailOperator


    @dag(dag_id="retried_send", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
    def retried_send():
        Sender25SendEmailOperator(
            task_id="send",
            to="ana@example.org",
            from_email="n@example.com",
            subject="Once only",
            plain_body="hi",
            retries=2,
            retry_delay=timedelta(seconds=0),
        )


    retried_send()
    """
)


@pytest.fixture
def retry_dag_folder(tmp_path):
    (tmp_path / "retried_send.py").write_text(RETRY_DAG)
    return tmp_path


def test_an_ambiguous_send_is_not_retried_by_airflow_so_the_recipient_gets_one_message(
    dags_test, sender25_emulator, retry_dag_folder
):
    sender25_emulator.inject(Fault.RESET_AFTER_BODY, count=10)  # the API queued it, the answer was lost
    output = dags_test("retried_send", dags_folder=retry_dag_folder, expect_exit=1)
    assert "AmbiguousSendError" in output
    assert len(sends(sender25_emulator)) == 1
    assert [m.rcpt_to for m in sender25_emulator.messages()] == ["ana@example.org"]


def test_a_send_that_never_reached_the_api_is_retried_by_airflow_and_sent_once(
    dags_test, sender25_emulator, retry_dag_folder
):
    sender25_emulator.inject(Fault.HTTP_503, count=1)  # refused at the front: provably not sent
    dags_test("retried_send", dags_folder=retry_dag_folder, conn_extra={"max_retries": 0})
    assert len(sends(sender25_emulator)) == 2
    (message,) = sender25_emulator.messages()
    assert message.headers[TRACE_HEADER].endswith("try_number=2")


@pytest.fixture
def xmailer_env(xmailer_emulator):
    return {"AIRFLOW_CONN_XMAILER_DEFAULT": xmailer_emulator.airflow_connection(retry_backoff=0.01)}


def test_example_xmailer_send_queues_the_receipt_and_keeps_its_queue_id(
    dags_test, xmailer_emulator, xmailer_env
):
    output = dags_test("example_xmailer_send", extra_env=xmailer_env)
    (received,) = xmailer_emulator.messages
    assert received.rcpt_tos == ["ana@example.org", "bo@example.org"]
    assert f"queued as {received.queue_id}" in output
    assert received.parsed["Subject"].startswith("Recibo ")
    assert received.parsed[TRACE_HEADER].startswith("dag_id=example_xmailer_send; task_id=send_receipt")


def test_example_xmailer_daily_report_exports_the_window(dags_test, xmailer_emulator, xmailer_env, tmp_path):
    from datetime import datetime, timedelta, timezone

    from airflow_provider_mail._shared.mime import build_email_message
    from airflow_provider_mail.hooks.xmailer import XmailerSmtpHook

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_XMAILER_DEFAULT", xmailer_env["AIRFLOW_CONN_XMAILER_DEFAULT"])
        XmailerSmtpHook().send(
            build_email_message(
                to=["a@example.org", "b+hardfail@example.org"],
                from_email="n@example.com",
                subject="s",
                plain_body="b",
            )
        )
    xmailer_emulator.advance(120)
    now = datetime.fromtimestamp(xmailer_emulator.now(), timezone.utc)
    conf = {
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": now.isoformat(),
        "output_dir": str(tmp_path),
    }
    output = dags_test("example_xmailer_daily_report", conf=conf, extra_env=xmailer_env)
    (report,) = tmp_path.glob("xmailer-*.csv")
    lines = report.read_text().splitlines()
    assert lines[0].startswith("queue_id,sender,recipient,delivered_at,outcome")
    assert sorted(line.split(",")[2] for line in lines[1:]) == ["a@example.org", "b+hardfail@example.org"]
    assert "2 rows, 1 failed (50%)" in output
    assert len(xmailer_emulator.requests) == 1


@pytest.fixture
def deliver_after_deferral():
    """Deliveries that wait until the sensor poked and the trigger polled, then happen at once.

    Deterministic under any load: the clock moves when the request log shows the first poke and a
    trigger poll, not after a fixed delay.
    """
    import threading
    import time

    from airflow_provider_mail.hooks.sender25 import MESSAGE_PATH
    from airflow_provider_mail.testing import Sender25Emulator

    with Sender25Emulator(delivery_delay=3600.0) as emulator:
        stop = threading.Event()

        def release_after_two_reads():
            while not stop.is_set():
                if sum(r.path == MESSAGE_PATH for r in emulator.requests) >= 2:
                    emulator.advance(7200)
                    return
                time.sleep(0.05)

        watcher = threading.Thread(target=release_after_two_reads, daemon=True)
        watcher.start()
        yield emulator
        stop.set()
        watcher.join(timeout=5)


def test_send_and_confirm_defers_confirms_and_fails_fast_on_the_bounce(dags_test, deliver_after_deferral):
    emulator = deliver_after_deferral
    output = dags_test(
        "example_send_and_confirm", extra_env={"AIRFLOW_CONN_SENDER25_DEFAULT": emulator.airflow_connection()}
    )
    # Whichever sensor `dags test` runs first defers (the other then finds its message already final):
    # the trigger polled, and execute_complete ran on its event.
    assert "delivery poll 1: 1 polled, waiting: pending 1" in output
    assert "poll(s) in the triggerer:" in output
    assert "invoice delivered to ana@example.org" in output
    assert "ghost+hardfail@example.org" in output and "550 5.1.1" in output
    assert "the address bounced" in output  # the failure branch ran
    statuses = {m.rcpt_to: m.status for m in emulator.messages()}
    assert statuses == {"ana@example.org": "Sent", "ghost+hardfail@example.org": "HardFail"}


MODES_DAG = textwrap.dedent(
    """
    from datetime import datetime

    from airflow_provider_mail._compat import dag
    from airflow_provider_mail.operators.sender25 import Sender25SendEmailOperator
    from airflow_provider_mail.sensors.delivery import Sender25DeliverySensor


    @dag(dag_id="sensor_modes", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
    def sensor_modes():
        send = Sender25SendEmailOperator(task_id="send", to="ana@example.org", from_email="n@example.com",
                                         subject="modes", plain_body="hi")
        for mode in ("poke", "reschedule"):
            send >> Sender25DeliverySensor(task_id=f"wait_{mode}", messages=send.output, mode=mode,
                                           deferrable=False, poke_interval=1, timeout=120)


    sensor_modes()
    """
)


def test_poke_and_reschedule_modes_complete_under_dags_test(dags_test, tmp_path):
    from airflow_provider_mail.testing import Sender25Emulator

    (tmp_path / "sensor_modes.py").write_text(MODES_DAG)
    with Sender25Emulator(delivery_delay=4.0) as emulator:
        output = dags_test(
            "sensor_modes",
            dags_folder=tmp_path,
            extra_env={"AIRFLOW_CONN_SENDER25_DEFAULT": emulator.airflow_connection()},
        )
        (message,) = emulator.messages()
        assert message.status == "Sent"
        reads = [r for r in emulator.requests if r.path.endswith("messages/message")]
    assert len(reads) >= 3  # both sensors poked more than once before the delivery
    assert output.count("sender25 delivery: all 1 message(s) delivered") >= 2  # 2.11 prints task logs twice


# -- issue 2: every example DAG succeeds when triggered by hand, with no conf -------------------------

#: Airflow 3 runs a DAG triggered from the UI or the API without a logical date: no data interval and no
#: ``ds`` in the context. ``airflow dags test`` always sets a logical date, so this is ``dag.test`` as the
#: CLI calls it, with ``logical_date=None``.
MANUAL_RUN_WITHOUT_LOGICAL_DATE = textwrap.dedent(
    """
    import sys

    from airflow_provider_mail._compat import get_dagbag_class

    bag = get_dagbag_class()()
    assert not bag.import_errors, bag.import_errors
    run = bag.get_dag(sys.argv[1]).test(logical_date=None)
    print("manual run state:", run.state)
    sys.exit(0 if str(run.state).endswith("success") else 1)
    """
)


#: Example DAGs scheduled on asset events (Airflow 3 only): Airflow 2 cannot import them.
AIRFLOW_3_ONLY_EXAMPLES = frozenset({"example_sender25_bounce_handling.py"})


def _example_dag_ids():
    import re

    from airflow_provider_mail._compat import AIRFLOW_V_3_0_PLUS
    from tests.conftest import REPO_ROOT

    for path in sorted((REPO_ROOT / "example_dags").glob("*.py")):
        if AIRFLOW_V_3_0_PLUS or path.name not in AIRFLOW_3_ONLY_EXAMPLES:
            yield from re.findall(r'dag_id="([^"]+)"', path.read_text())


@pytest.fixture
def manual_run(airflow_db, sender25_emulator, xmailer_emulator):
    """Trigger a DAG by hand with no conf: on Airflow 3 without a logical date, on 2.x as the UI does."""
    import os
    import subprocess
    import sys

    from airflow_provider_mail._compat import AIRFLOW_V_3_0_PLUS
    from tests.conftest import run_airflow

    env = {
        "AIRFLOW_CONN_SENDER25_DEFAULT": sender25_emulator.airflow_connection(),
        "AIRFLOW_CONN_XMAILER_DEFAULT": xmailer_emulator.airflow_connection(retry_backoff=0.01),
    }

    def run(dag_id: str) -> str:
        if AIRFLOW_V_3_0_PLUS:
            result = subprocess.run(
                [sys.executable, "-c", MANUAL_RUN_WITHOUT_LOGICAL_DATE, dag_id],
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                timeout=400,
                check=False,
            )
        else:  # Airflow 2 always gives a manual run a logical date and a whole data interval
            result = run_airflow("dags", "test", dag_id, env=env)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-6000:]
        return output

    return run


@pytest.mark.parametrize("dag_id", list(_example_dag_ids()))
def test_every_example_dag_succeeds_when_triggered_by_hand_without_conf(manual_run, dag_id):
    manual_run(dag_id)


def test_the_daily_report_succeeds_on_a_run_with_an_empty_data_interval(
    dags_test, xmailer_emulator, xmailer_env, tmp_path
):
    """``airflow dags test`` without conf: on Airflow 3 the ``@daily`` cron gives it an empty interval."""
    output = dags_test(
        "example_xmailer_daily_report", conf={"output_dir": str(tmp_path)}, extra_env=xmailer_env
    )
    (report,) = tmp_path.glob("xmailer-*.csv")
    assert report.read_text().startswith("queue_id,sender,recipient,delivered_at,outcome")
    assert "0 rows, 0 failed" in output


def test_example_xmailer_bulk_sends_one_receipt_per_row_and_waits_for_the_report(
    dags_test, xmailer_emulator, xmailer_env
):
    output = dags_test("example_xmailer_bulk", extra_env=xmailer_env)
    received = xmailer_emulator.messages
    assert sorted(r for m in received for r in m.rcpt_tos) == [
        "ana@example.org",
        "bo@example.org",
        "caio@example.org",
    ]
    assert sorted(m.parsed["Subject"] for m in received) == [
        "Recibo de Ana",
        "Recibo de Bo",
        "Recibo de Caio",
    ]
    assert "xmailer delivery: all 3 message(s) delivered" in output, output[-3000:]
