"""DeliveryTrigger: serialization round trip and no secret in its kwargs."""

from __future__ import annotations

import asyncio
import importlib
import json
from types import SimpleNamespace

from airflow_provider_mail.sensors.delivery import Sender25DeliverySensor, XmailerDeliverySensor
from airflow_provider_mail.triggers.delivery import DeliveryTrigger

CONTEXT = {"ti": SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1, try_number=1)}
SEND_XCOM = {"message_id": "m@rp", "messages": {"ana@example.org": {"id": 11, "token": "TOKEN123"}}}


def test_serialize_round_trip():
    trigger = DeliveryTrigger(
        service="sender25",
        conn_id="c",
        messages={"11": "ana@example.org"},
        policy={"mode": "any", "fail_on_held": False, "bounce_grace_period": 30.0},
        poll_interval=5,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_mail.triggers.delivery.DeliveryTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_no_secret_in_the_serialized_kwargs(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SENDER25_DEFAULT",
        '{"conn_type": "sender25", "host": "127.0.0.1", "schema": "http", "password": "SUPER-SECRET-KEY"}',
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_XMAILER_DEFAULT",
        '{"conn_type": "xmailer", "login": "u", "password": "SMTP-PASSWORD-XYZ"}',
    )
    sender25 = Sender25DeliverySensor(task_id="a", messages=SEND_XCOM)
    xmailer = XmailerDeliverySensor(
        task_id="b", messages={"queue_id": "1grzDQ-000866-0o", "accepted": ["a@x.org"]}
    )
    for operator in (sender25, xmailer):
        text = json.dumps(operator.build_trigger(CONTEXT).serialize())
        assert "SUPER-SECRET-KEY" not in text and "SMTP-PASSWORD-XYZ" not in text and "TOKEN123" not in text
    assert sender25.build_trigger(CONTEXT).source == {
        "inline": [{"messages": {"ana@example.org": {"id": 11}}}],
        "refs": [],
    }


def test_a_source_round_trips_and_an_earlier_versions_messages_still_load():
    source = {
        "inline": [11],
        "refs": [
            {
                "dag_id": "d",
                "run_id": "r",
                "task_id": "send",
                "map_index": 2,
                "key": "k",
                "pages": 3,
                "items": 9,
            }
        ],
    }
    trigger = DeliveryTrigger(service="xmailer", conn_id="c", source=source, policy={"mode": "all"})
    classpath, kwargs = trigger.serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs and "messages" not in kwargs
    module, _, name = classpath.rpartition(".")
    assert getattr(importlib.import_module(module), name)(**kwargs).serialize() == (classpath, kwargs)
    # a trigger stored by the previous version (its ids in `messages`) is rebuilt and reads them
    earlier = DeliveryTrigger(service="sender25", conn_id="c", messages={"11": "a@x.org"}, policy={})
    assert asyncio.run(earlier.awaited()).ids == {"11": "a@x.org"}


def test_the_sensor_names_its_task_instance_for_the_outcome_pages_and_it_round_trips(xcom_store):
    ti = xcom_store.ti(dag_id="d", run_id="r", task_id="wait", map_index=4)
    trigger = Sender25DeliverySensor(task_id="wait", messages=SEND_XCOM).build_trigger({"ti": ti})
    classpath, kwargs = trigger.serialize()
    assert kwargs["outcome_pages"] == {"dag_id": "d", "run_id": "r", "task_id": "wait", "map_index": 4}
    rebuilt = DeliveryTrigger(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    # without a task instance to write to (an earlier version's kwargs), no target: the event carries
    # the outcomes and the sensor pages them on resume
    assert (
        "outcome_pages"
        not in Sender25DeliverySensor(task_id="w", messages=SEND_XCOM).build_trigger({}).serialize()[1]
    )
