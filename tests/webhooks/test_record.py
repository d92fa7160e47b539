"""Recording a webhook: the event and its uuid in one transaction, one event per uuid however many
receivers race (threads here, api-servers in production), on the real metadata database."""

from __future__ import annotations

import threading
import uuid

import pytest

from airflow_provider_mail._compat import AIRFLOW_V_3_0_PLUS
from tests.webhooks.conftest import asset_events

pytestmark = pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="asset events are Airflow 3")


def test_racing_receivers_record_one_event_per_uuid(airflow_db) -> None:
    from airflow_provider_mail.webhooks._record import record_webhook_event

    name = f"sender25.race_{uuid.uuid4().hex[:6]}.MessageSent"
    key = str(uuid.uuid4())
    start = threading.Barrier(6)
    results: list[object] = []

    def receive() -> None:
        start.wait()
        try:
            results.append(
                record_webhook_event(
                    name=name,
                    uri=f"sender25://x/{name}",
                    extra={"uuid": key},
                    uuid=key,
                    timestamp=1.0,
                    keep_seconds=60,
                )
            )
        except Exception as err:  # the test reports any failure below
            results.append(err)

    threads = [threading.Thread(target=receive) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(map(repr, results)) == sorted(["True"] + ["False"] * 5), results
    assert [e["uuid"] for e in asset_events(name)] == [key]
