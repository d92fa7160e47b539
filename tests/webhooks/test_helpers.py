"""The public helpers: one asset per event and connection, one watched asset per xmailer connection."""

from __future__ import annotations

import pytest

from airflow_provider_mail import _compat
from airflow_provider_mail.webhooks import (
    SENDER25_EVENTS,
    mail_event_details,
    sender25_event_asset,
    xmailer_bounce_asset,
)


@pytest.mark.skipif(not _compat.AIRFLOW_V_3_0_PLUS, reason="assets are Airflow 3")
def test_one_asset_per_event_and_connection() -> None:
    assets = {(sender25_event_asset(e).name, sender25_event_asset(e).uri) for e in SENDER25_EVENTS}
    assert len(assets) == len(SENDER25_EVENTS)
    assert sender25_event_asset("MessageBounced") == sender25_event_asset("MessageBounced")
    assert sender25_event_asset("MessageBounced", "a") != sender25_event_asset("MessageBounced", "b")


@pytest.mark.skipif(not _compat.AIRFLOW_V_3_0_PLUS, reason="assets are Airflow 3")
@pytest.mark.parametrize(
    ("event", "conn_id"), [("Bounced", "c"), ("MessageBounced", "a/b"), ("MessageSent", "")]
)
def test_bad_arguments_are_refused(event: str, conn_id: str) -> None:
    with pytest.raises(ValueError, match="must be"):
        sender25_event_asset(event, conn_id)


@pytest.mark.skipif(not _compat.AIRFLOW_V_3_0_PLUS, reason="assets are Airflow 3")
def test_xmailer_asset_is_watched_by_one_trigger_that_serializes_ids_only() -> None:
    asset = xmailer_bounce_asset("xm", poll_interval=60)
    (watcher,) = asset.watchers
    classpath, kwargs = watcher.trigger.serialize()
    assert classpath == "airflow_provider_mail.triggers.xmailer_failures.XmailerFailureTrigger"
    assert kwargs == {"conn_id": "xm", "poll_interval": 60.0, "lookback": 21600.0}


@pytest.mark.skipif(_compat.AIRFLOW_V_3_0_PLUS, reason="the Airflow 2 refusal")
def test_on_airflow_2_the_helpers_say_airflow_3_is_needed() -> None:
    with pytest.raises(_compat.Airflow3Required, match="needs Airflow 3"):
        sender25_event_asset("MessageBounced")
    with pytest.raises(_compat.Airflow3Required, match="needs Airflow 3"):
        xmailer_bounce_asset()


def test_event_details_read_both_services_the_same_way() -> None:
    sender25 = {"event": "MessageBounced", "recipient": "a@x.org", "uuid": "u", "trace": {"dag_id": "d"}}
    xmailer = {"from_trigger": True, "payload": {"recipient": "b@x.org", "queue_id": "q", "failure_key": "k"}}
    assert mail_event_details(sender25)["recipient"] == "a@x.org"
    assert mail_event_details(sender25)["trace"] == {"dag_id": "d"}
    assert mail_event_details(xmailer)["recipient"] == "b@x.org"
    assert mail_event_details(xmailer)["service"] == "xmailer"
