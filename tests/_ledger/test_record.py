"""The ledger's record format, names, the retry-versus-clear rule, the fence and the earlier-rows index
(pure, no I/O)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_mail._ledger import (
    MESSAGE_ROW,
    NAME_PREFIX,
    Action,
    LedgerHead,
    LedgerKey,
    LedgerRow,
    content_key,
    decide,
    ledger_record_name,
    recipients_key,
    same_generation,
)
from airflow_provider_mail._ledger.earlier import EarlierRows
from airflow_provider_mail._ledger.record import (
    check_fence,
    chunk_parts,
    claim,
    decode_rows,
    encode_chunk,
    part_piece,
    was_cut_off,
)
from airflow_provider_mail.exceptions import FatalMailProviderError, SendLedgerError, SendLedgerFenced

KEY = LedgerKey("billing", "send", "manual__2026-11-22T10:00:00+00:00", -1)
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


def head(generation=1, first_claim=1, fence=1, claim_no=None, expires_in=timedelta(days=7), ended="claim"):
    claim_no = fence if claim_no is None else claim_no
    ended = claim_no if ended == "claim" else ended
    return LedgerHead(KEY, generation, first_claim, claim_no, fence, NOW + expires_in, NOW, ended=ended)


def row(state="accepted", try_number=1, key=MESSAGE_ROW, index=0):
    result = {"message_id": "m1", "messages": {}} if state == "accepted" else None
    return LedgerRow(key, index, "", state, try_number, result, {"trace": "t"})


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
    assert len(long_a) == len(long_b) == 250 - 24  # room for a chunk's suffix
    assert long_a != long_b and long_a.startswith(NAME_PREFIX + "ddd")


def test_characters_outside_the_safe_set_are_replaced():
    name = ledger_record_name("d", "t", "run/with spaces?", -1)
    assert "/" not in name and " " not in name and "?" not in name


# -- format ----------------------------------------------------------------------------------------
def test_head_round_trip_through_json_text():
    original = head(generation=3, first_claim=2, fence=4, claim_no=5)
    parsed = LedgerHead.from_json(json.dumps(original.to_json()), name="x", expected=KEY)
    assert (parsed.generation, parsed.first_claim, parsed.claim, parsed.fence) == (3, 2, 5, 4)
    assert parsed.expires_at == original.expires_at


def test_a_chunk_round_trips_and_a_big_one_is_split_under_the_value_limit():
    rows = [
        LedgerRow(
            content_key({"to": f"r{n}"}),
            n,
            recipients_key([f"r{n}"]),
            "accepted",
            2,
            {"id": n, "t": str(n) * 40},
        )
        for n in range(3000)
    ]
    values = encode_chunk(KEY, generation=1, try_number=2, claim=3, chunk=5, rows=rows, expires_at=NOW)
    assert len(values) > 1 and all(len(json.dumps(v)) < 65_535 for _, v in values)
    assert values[-1][0] == ".k3.c5" and [s for s, _ in values[:-1]] == [
        f".k3.c5.p{k}" for k in range(1, len(values))
    ]
    writer, parts, first = chunk_parts(values[-1][1], name="c", expected=KEY)
    pieces = [first] + [part_piece(v, name="p") for _, v in values[:-1]]
    assert (writer, parts) == (2, len(values)) and decode_rows("".join(pieces), 2, name="c") == rows


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        pytest.param("{not json", "is not JSON", id="not-json"),
        pytest.param('"just a string"', "is not a send-ledger record", id="foreign-scalar"),
        pytest.param('{"feature_flag": true}', "is not a send-ledger record", id="foreign-object"),
        pytest.param({**head().to_json(), "version": 1}, "format version 1", id="older-version"),
        pytest.param(
            {**head().to_json(), "task_instance": {**KEY.as_dict(), "map_index": 4}},
            "belongs to another task instance",
            id="other-task-instance",
        ),
        pytest.param({**head().to_json(), "fence": "x"}, "first_claim/claim/fence/ended", id="bad-fence"),
        pytest.param({**head().to_json(), "expires_at": "soon"}, "expires_at", id="bad-date"),
    ],
)
def test_a_corrupt_or_foreign_head_is_a_fatal_error_naming_it(stored, problem):
    with pytest.raises(SendLedgerError, match=problem) as caught:
        LedgerHead.from_json(stored, name="airflow_provider_mail.ledger.x", expected=KEY)
    assert caught.value.record == "airflow_provider_mail.ledger.x"
    assert "airflow_provider_mail.ledger.x" in str(caught.value) and "Nothing was sent" in str(caught.value)
    assert isinstance(caught.value, FatalMailProviderError)  # Airflow does not retry it


def test_rows_in_an_unknown_state_or_accepted_without_result_are_corrupt():
    for bad in (LedgerRow("k", 0, "", "maybe", 1), LedgerRow("k", 0, "", "accepted", 1)):
        ((_, value),) = encode_chunk(
            KEY, generation=1, try_number=1, claim=1, chunk=0, rows=[bad], expires_at=NOW
        )
        with pytest.raises(SendLedgerError):
            decode_rows(value["data"], 1, name="c")


def test_expiry():
    assert not head(expires_in=timedelta(seconds=1)).is_expired(NOW)
    assert head(expires_in=timedelta(0)).is_expired(NOW)


# -- what a row is ----------------------------------------------------------------------------------
def test_a_row_is_known_by_its_recipients_and_content_not_its_place():
    one = {"to": "a@example.org", "subject": "Hi", "plain_body": "x", "attachments": [("f", b"1", "t/p")]}
    assert content_key(one) == content_key(dict(reversed(list(one.items()))))
    assert content_key(one) != content_key({**one, "to": "b@example.org"})
    assert content_key(one) != content_key({**one, "plain_body": "y"})
    assert content_key(one) != content_key({**one, "attachments": [("f", b"2", "t/p")]})
    assert recipients_key(["A@example.org ", "b@example.org"]) == recipients_key(
        ["b@example.org", "a@example.org"]
    )


# -- retry or clear --------------------------------------------------------------------------------
def test_decide():
    assert decide(None) is Action.SEND
    assert decide(row("accepted")) is Action.RETURN_RESULT
    assert decide(row("sending")) is Action.UNKNOWN_OUTCOME


@pytest.mark.parametrize("retries", [0, 1, 3])
def test_a_clear_of_a_finished_task_starts_a_new_generation_whatever_the_retries(retries):
    # Airflow's clear_task_instances: max_tries = try_number + task.retries (2.11 and 3.x).
    new, continues = claim(
        head(generation=retries), KEY, max_tries=1 + retries, try_number=2, expires_at=NOW, where="x"
    )
    assert not continues and (new.generation, new.first_claim, new.claim, new.fence) == (1 + retries, 2, 2, 2)


@pytest.mark.parametrize("retries", [0, 1, 3])
@pytest.mark.parametrize("adjusted", [False, True], ids=["max-tries-kept", "max-tries-try-plus-retries"])
def test_a_running_task_cleared_continues_its_generation_whatever_the_retries(retries, adjusted):
    # cleared while running: RESTARTING; the try is cut off (it never ends on its own); the next one
    # runs with max_tries kept, or set to try_number + retries by the scheduler, past max_tries + 1
    cut_off = head(generation=retries, fence=1, ended=None)
    max_tries = 1 + retries if adjusted else retries
    new, continues = claim(cut_off, KEY, max_tries=max_tries, try_number=2, expires_at=NOW, where="x")
    assert continues and (new.first_claim, new.claim, new.fence, new.generation) == (1, 2, 2, max_tries)
    assert same_generation(cut_off, max_tries=max_tries)


def test_what_cuts_a_try_off():
    try:
        from airflow.sdk.exceptions import AirflowTaskTerminated, AirflowTaskTimeout
    except ImportError:  # Airflow 2
        from airflow.exceptions import AirflowTaskTerminated, AirflowTaskTimeout  # type: ignore[no-redef]

    assert (
        was_cut_off(AirflowTaskTimeout())
        and was_cut_off(AirflowTaskTerminated())
        and was_cut_off(KeyboardInterrupt())
    )
    assert not was_cut_off(RuntimeError()) and not was_cut_off(SendLedgerError("x", record="r"))


def test_a_second_clear_after_a_retried_send_starts_again():
    # retries=2: first clear at try 1 -> max_tries 3; the retry (try 3) continues; a clear at try 3 -> 5
    after_first_clear = head(generation=3, first_claim=2, fence=2)
    assert claim(after_first_clear, KEY, max_tries=3, try_number=3, expires_at=NOW, where="x")[1]
    assert not claim(after_first_clear, KEY, max_tries=5, try_number=4, expires_at=NOW, where="x")[1]


# -- fence ------------------------------------------------------------------------------------------
def test_a_try_older_than_the_claim_is_fenced_at_claim_and_before_each_chunk():
    with pytest.raises(SendLedgerFenced, match="claimed by try 3"):
        claim(head(fence=3), KEY, max_tries=1, try_number=2, expires_at=NOW, where="x")
    check_fence(head(fence=2), claim=2, try_number=2, where="x")
    for other in (head(fence=3), head(fence=1), None):
        with pytest.raises(SendLedgerFenced):
            check_fence(other, claim=2, try_number=2, where="x")


def test_a_run_created_again_under_the_same_run_id_repeats_try_numbers_and_continues():
    # Airflow 2's `dags test` twice, or a deleted run triggered again: try 1 again, same max_tries
    new, continues = claim(
        head(generation=1, fence=1, ended=None), KEY, max_tries=1, try_number=1, expires_at=NOW, where="x"
    )
    assert continues and (new.first_claim, new.claim, new.fence) == (1, 2, 1)  # reads claim 1's chunks


# -- earlier rows -----------------------------------------------------------------------------------
def test_earlier_rows_are_found_by_key_once_each_preferring_accepted_then_the_same_place():
    earlier = EarlierRows()
    a, b = content_key({"to": "a"}), content_key({"to": "b"})
    earlier.add_chunk([row("sending", 1, a, 0), row("accepted", 1, b, 1)], 1)
    earlier.add_chunk([row("accepted", 2, a, 5), row("accepted", 2, b, 1)], 2)
    earlier.seal()
    assert earlier.find(a, 0).state == "accepted"  # try 2 resent it: accepted first
    assert earlier.find(b, 1).try_number == 2  # same place, newest
    assert earlier.find(b, 9).try_number == 1  # the same message twice: the other one
    assert earlier.find(b, 1) is None and earlier.find(content_key({"to": "c"}), 0) is None
    assert earlier.find(a, 0).state == "sending"


def test_a_changed_row_is_one_at_the_same_place_to_the_same_recipients():
    earlier = EarlierRows()
    earlier.add_chunk([LedgerRow("k1", 3, recipients_key(["bob"]), "accepted", 1, {})], 1)
    earlier.seal()
    assert earlier.changed_at(3, recipients_key(["bob"])).key == "k1"
    assert earlier.changed_at(3, recipients_key(["ann"])) is None
    assert earlier.changed_at(4, recipients_key(["bob"])) is None
    earlier.find("k1", 7)  # the row moved: taken by another row, not changed
    assert earlier.changed_at(3, recipients_key(["bob"])) is None


def test_key_from_the_task_context():
    from types import SimpleNamespace

    ti = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=5)
    assert LedgerKey.from_context({"ti": ti}) == LedgerKey("d", "t", "r", 5)
    with pytest.raises(SendLedgerError, match="needs the task instance"):
        LedgerKey.from_context({})
