"""The ledger's record format, names and the retry-versus-clear decision (pure, no I/O)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_mail._ledger import (
    MESSAGE_ROW,
    NAME_PREFIX,
    Action,
    LedgerKey,
    LedgerRecord,
    decide,
    ledger_record_name,
)
from airflow_provider_mail.exceptions import FatalMailProviderError, SendLedgerError

KEY = LedgerKey("billing", "send", "manual__2026-11-22T10:00:00+00:00", -1)
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


def record(generation=1, state="accepted", try_number=1, expires_in=timedelta(days=7)):
    row = {"state": state, "try_number": try_number, "trace": "t"}
    if state == "accepted":
        row["result"] = {"message_id": "m1", "messages": {}}
    return LedgerRecord(KEY, generation, NOW + expires_in, {MESSAGE_ROW: row}, NOW)


# -- names -----------------------------------------------------------------------------------------
def test_name_is_readable_and_prefixed():
    name = ledger_record_name("billing", "send", "manual__2026-11-22T10:00:00+00:00", 3)
    assert name.startswith(NAME_PREFIX + "billing.send.manual__2026-11-22T10:00:00+00:00.3.")
    assert KEY.name == ledger_record_name(KEY.dag_id, KEY.task_id, KEY.run_id, KEY.map_index)


def test_every_map_index_and_ambiguous_dotted_ids_get_their_own_name():
    names = {ledger_record_name("d", "t", "r", index) for index in range(-1, 1000)}
    assert len(names) == 1001
    # the readable parts are equal ("a.b.c.r.-1"), the hash keeps them apart
    assert ledger_record_name("a.b", "c", "r") != ledger_record_name("a", "b.c", "r")


def test_long_ids_stay_within_the_variable_key_limit_and_unique():
    long_a = ledger_record_name("d" * 250, "t" * 250, "r" * 250, 0)
    long_b = ledger_record_name("d" * 250, "t" * 250, "r" * 250, 1)
    assert len(long_a) == len(long_b) == 250
    assert long_a != long_b and long_a.startswith(NAME_PREFIX + "ddd")


def test_characters_outside_the_safe_set_are_replaced():
    name = ledger_record_name("d", "t", "run/with spaces?", -1)
    assert "/" not in name and " " not in name and "?" not in name


# -- format ----------------------------------------------------------------------------------------
def test_round_trip_through_json_text():
    original = record()
    text = json.dumps(original.to_json())
    parsed = LedgerRecord.from_json(text, name="x", expected=KEY)
    assert (
        parsed.rows == original.rows and parsed.generation == 1 and parsed.expires_at == original.expires_at
    )


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        pytest.param("{not json", "is not JSON", id="not-json"),
        pytest.param('"just a string"', "is not a send-ledger record", id="foreign-scalar"),
        pytest.param('{"feature_flag": true}', "is not a send-ledger record", id="foreign-object"),
        pytest.param({**record().to_json(), "version": 99}, "format version 99", id="newer-version"),
        pytest.param(
            {**record().to_json(), "task_instance": {**KEY.as_dict(), "map_index": 4}},
            "belongs to another task instance",
            id="other-task-instance",
        ),
        pytest.param({**record().to_json(), "rows": []}, "malformed rows", id="rows-not-object"),
        pytest.param(
            {**record().to_json(), "rows": {MESSAGE_ROW: {"state": "maybe", "try_number": 1}}},
            "malformed row",
            id="unknown-state",
        ),
        pytest.param(
            {**record().to_json(), "rows": {MESSAGE_ROW: {"state": "accepted", "try_number": 1}}},
            "without its result",
            id="accepted-without-result",
        ),
        pytest.param({**record().to_json(), "expires_at": "soon"}, "expires_at", id="bad-date"),
    ],
)
def test_a_corrupt_or_foreign_record_is_a_fatal_error_naming_it(stored, problem):
    with pytest.raises(SendLedgerError, match=problem) as caught:
        LedgerRecord.from_json(stored, name="airflow_provider_mail.ledger.x", expected=KEY)
    assert caught.value.record == "airflow_provider_mail.ledger.x"
    assert "airflow_provider_mail.ledger.x" in str(caught.value) and "Nothing was sent" in str(caught.value)
    assert isinstance(caught.value, FatalMailProviderError)  # Airflow does not retry it


def test_expiry():
    assert not record(expires_in=timedelta(seconds=1)).is_expired(NOW)
    assert record(expires_in=timedelta(0)).is_expired(NOW)


# -- retry or clear --------------------------------------------------------------------------------
def test_no_record_sends():
    assert decide(None, MESSAGE_ROW, max_tries=1, try_number=1) == (Action.SEND, None)


def test_a_retry_returns_the_accepted_result():
    action, row = decide(record(generation=2), MESSAGE_ROW, max_tries=2, try_number=2)
    assert action is Action.RETURN_RESULT and row["result"]["message_id"] == "m1"


def test_a_retry_after_a_send_without_answer_is_an_unknown_outcome():
    action, row = decide(record(generation=2, state="sending"), MESSAGE_ROW, max_tries=2, try_number=3)
    assert action is Action.UNKNOWN_OUTCOME and row["try_number"] == 1


def test_another_row_of_the_same_record_does_not_block_this_one():
    assert decide(record(), "row-7", max_tries=1, try_number=2) == (Action.SEND, None)


@pytest.mark.parametrize("retries", [0, 1, 3])
@pytest.mark.parametrize("state", ["accepted", "sending"])
def test_a_clear_sends_again_whatever_the_earlier_state(retries, state):
    # Airflow's clear_task_instances: max_tries = try_number + task.retries (2.11 and 3.x).
    written_by = record(generation=retries, state=state, try_number=1)
    max_tries_after_clear = 1 + retries
    action, _ = decide(written_by, MESSAGE_ROW, max_tries=max_tries_after_clear, try_number=2)
    assert action is Action.SEND


def test_a_second_clear_after_a_retried_send_sends_again():
    # retries=2: try 1 sent and failed later, try 2 returned its result; clear → max_tries 2+2.
    first_clear = record(generation=1 + 2, try_number=2)  # written after a first clear (try 1 + 2)
    assert decide(first_clear, MESSAGE_ROW, max_tries=3, try_number=3)[0] is Action.RETURN_RESULT
    assert decide(first_clear, MESSAGE_ROW, max_tries=3 + 2, try_number=4)[0] is Action.SEND


def test_a_try_beyond_the_retries_of_the_writer_is_a_new_attempt():
    assert decide(record(generation=1), MESSAGE_ROW, max_tries=1, try_number=3)[0] is Action.SEND


def test_key_from_the_task_context():
    from types import SimpleNamespace

    ti = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=5)
    assert LedgerKey.from_context({"ti": ti}) == LedgerKey("d", "t", "r", 5)
    with pytest.raises(SendLedgerError, match="needs the task instance"):
        LedgerKey.from_context({})
