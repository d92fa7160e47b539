"""The send ledger's record: names, the JSON format of its head and chunks, the retry-or-clear rule and
the fence. No I/O here.

A task instance's ledger is a **head** and **chunks**, each one small value in the store (a task
state store key, an Airflow Variable, an object), so that writing costs what the chunk holds, never
what the batch holds::

    <name>                      the head: who owns the ledger now
      {"kind": "airflow_provider_mail.send_ledger", "version": 2,
       "task_instance": {"dag_id", "task_id", "run_id", "map_index"},
       "generation": 2,         # ti.max_tries of the tries of this attempt to send (see below)
       "first_claim": 1,        # the first claim of this generation
       "claim": 3,              # the newest claim (each try that starts claims: 1, 2, 3...)
       "fence": 3,              # the try number of the newest claim
       "ended": 2,              # the newest claim whose try ran to its own end (null: none)
       "updated_at": "...", "expires_at": "..."}
    <name>.k<claim>.c<n>        chunk n of a claim (a try): its rows, packed (zlib, base64), <= 60,000 chars
      {"kind": "airflow_provider_mail.send_ledger.chunk", "version": 2, "task_instance": {...},
       "generation": 2, "try_number": 3, "chunk": 0, "expires_at": "...", "parts": 1, "data": "..."}
    <name>.k<claim>.c<n>.p<k>   the k-th further part of a chunk too big for one value

Chunks are named by claim, not by try number: a DAG run deleted and created again with the same
run id (or ``airflow dags test`` run twice on Airflow 2) repeats try numbers, and its tries must
neither overwrite nor miss the chunks the earlier ones wrote (a Variable or object-storage ledger
outlives the run).

A row is ``[key, index, recipients_key, state, result, info]``: ``key`` names the row by what it
is (a hash of its recipients and content, see :func:`content_key`; ``"message"`` for a single
send), ``index`` is where it stood, ``state`` is ``"sending"`` (about to go out, or out with no
answer recorded) or ``"accepted"``, ``result`` the ids (the XCom part), ``info`` what a single
send records to help find a message (trace, Message-ID, sender, recipients). Never a body, an
attachment or a credential: only hashes, ids and addresses.

**Retry or clear.** Airflow gives every try a new ``try_number``, for retries and for clears alike.
A retry never changes ``max_tries``; clearing a *finished* task instance sets it to ``try_number +
retries`` (Airflow 2.11 and 3.x, ``clear_task_instances``), larger than before. Clearing a *running*
one sets it ``restarting`` and kills the try; the next try then runs either with ``max_tries``
unchanged (the try reported its own end) or with ``max_tries = try_number + retries`` (the scheduler
saw the executor end it), so ``max_tries`` alone cannot tell that clear from a clear after the task
finished. The head therefore stores the ``max_tries`` of its tries (the *generation*) and ``ended``:
the newest try that ran to its own end (returned, or raised from the operator's code) rather than
being cut off (killed, ``execution_timeout``, terminated by a clear). A starting try continues the
stored generation (what was sent is not sent again) when its ``max_tries`` is the same, or when the
newest try of the generation was cut off; it starts a new one (everything is sent again) only after
a clear that followed a try which ended. ``retries`` plays no part. (The one case this cannot tell: a
clear after ``retries`` was lowered in the DAG by exactly the number of tries run since the last
clear gives the old ``max_tries`` again; it is then taken for a retry and sends nothing twice.)

**Fence.** Each try claims the head (a new ``claim``; ``fence`` = its try number) before it reads
what earlier tries sent, and re-reads the head after marking a chunk ``sending`` and before sending
it: a try that finds another claim stops (:class:`~airflow_provider_mail.exceptions.SendLedgerFenced`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any

from airflow_provider_mail.exceptions import SendLedgerError, SendLedgerFenced

RECORD_KIND = "airflow_provider_mail.send_ledger"
CHUNK_KIND = RECORD_KIND + ".chunk"
PART_KIND = RECORD_KIND + ".part"
RECORD_VERSION = 2
#: The longest packed text in one stored value: under Airflow's 65,535-byte task state value limit
#: (``[state_store] max_value_storage_bytes``) and MySQL's ``TEXT``, whatever the chunk holds.
MAX_VALUE_CHARS = 60_000
#: Room kept at the end of a name for a chunk's suffix (``.k<claim>.c<n>.p<k>``).
SUFFIX_ROOM = 24
#: Every Variable / object name of the ledger starts with this.
NAME_PREFIX = "airflow_provider_mail.ledger."
#: Airflow's Variable key column is 250 characters.
MAX_NAME_LENGTH = 250
#: The row of a single-message send.
MESSAGE_ROW = "message"
DEFAULT_RETENTION = timedelta(days=7)

_UNSAFE = re.compile(r"[^A-Za-z0-9_.~:+-]")
_HASH_CHARS = 12


class RowState(str, Enum):
    """Where a send stands in the ledger."""

    SENDING = "sending"
    """The request is about to go out, or went out and no answer was recorded."""
    ACCEPTED = "accepted"
    """The service accepted it; the row holds the result (the XCom)."""


@dataclass(frozen=True)
class LedgerKey:
    """The task instance a record belongs to.

    :param dag_id: the DAG id.
    :param task_id: the task id.
    :param run_id: the DAG run id.
    :param map_index: the map index (``-1`` when not mapped).
    """

    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1

    @classmethod
    def from_context(cls, context: Any) -> LedgerKey:
        """The key of the running task instance.

        :param context: the Airflow task context.
        :raises SendLedgerError: when the context has no task instance to key on.
        """
        ti = context.get("ti") or context.get("task_instance")
        parts = {name: getattr(ti, name, None) for name in ("dag_id", "task_id", "run_id")}
        if ti is None or not all(parts.values()):
            raise SendLedgerError(
                "the send ledger needs the task instance (dag_id, task_id, run_id) from the task context; "
                f"got {parts}",
                record="(unknown task instance)",
            )
        map_index = getattr(ti, "map_index", -1)
        return cls(
            str(parts["dag_id"]),
            str(parts["task_id"]),
            str(parts["run_id"]),
            -1 if map_index is None else int(map_index),
        )

    @property
    def name(self) -> str:
        """The record's name: see :func:`ledger_record_name`."""
        return ledger_record_name(self.dag_id, self.task_id, self.run_id, self.map_index)

    def as_dict(self) -> dict[str, Any]:
        """The key as stored in a record."""
        return {
            "dag_id": self.dag_id,
            "task_id": self.task_id,
            "run_id": self.run_id,
            "map_index": self.map_index,
        }


def ledger_record_name(dag_id: str, task_id: str, run_id: str, map_index: int = -1) -> str:
    """The name of a task instance's ledger record (its Variable key, or its object name + ``.json``).

    ``airflow_provider_mail.ledger.<dag_id>.<task_id>.<run_id>.<map_index>.<hash>``: readable, and
    unique because ``<hash>`` (12 hex digits of SHA-256) covers the exact four values (dots inside
    ids make the readable part ambiguous). Characters outside ``[A-Za-z0-9_.~:+-]`` become ``_``;
    the readable part is cut so that the name and a chunk's suffix stay within 250 characters (the
    Variable key limit).

    :param dag_id: the DAG id.
    :param task_id: the task id.
    :param run_id: the DAG run id.
    :param map_index: the map index (``-1`` when not mapped).
    """
    identity = json.dumps([dag_id, task_id, run_id, int(map_index)], ensure_ascii=False)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:_HASH_CHARS]
    readable = _UNSAFE.sub("_", f"{dag_id}.{task_id}.{run_id}.{int(map_index)}")
    room = MAX_NAME_LENGTH - SUFFIX_ROOM - len(NAME_PREFIX) - 1 - _HASH_CHARS
    return f"{NAME_PREFIX}{readable[:room]}.{digest}"


def chunk_suffix(claim: int, chunk: int, part: int = 0) -> str:
    """The name suffix of a chunk (or of its ``part``-th further part).

    :param claim: the claim of the try that wrote it.
    :param chunk: the chunk's number within that claim (from 0).
    :param part: 0 for the chunk itself.
    """
    return f".k{int(claim)}.c{int(chunk)}" + (f".p{int(part)}" if part else "")


def content_key(identity: Mapping[str, Any]) -> str:
    """The key of a row: what it is (recipients and content), not where it stands.

    :param identity: the rendered message arguments that make the message (recipients, sender,
        subject, bodies, headers without the per-try trace, attachment references…).
    """
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=_stable)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def recipients_key(recipients: Iterable[str]) -> str:
    """A short hash of a row's recipients, to tell a changed row from a new one.

    :param recipients: every recipient of the row.
    """
    text = "\n".join(sorted(str(r).strip().lower() for r in recipients))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _stable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "sha256:" + hashlib.sha256(bytes(value)).hexdigest()
    if isinstance(value, (set, frozenset)):
        return sorted(str(v) for v in value)
    return str(value)


@dataclass
class LedgerHead:
    """Who owns a task instance's ledger: its generation, claims and fence.

    :param key: the task instance.
    :param generation: ``max_tries`` seen by the tries of this generation (``None`` when unknown).
    :param first_claim: the first claim of this generation (earlier claims' chunks are ignored).
    :param claim: the newest claim.
    :param fence: the try number of the newest claim.
    :param expires_at: after this, the ledger is ignored and may be deleted.
    :param updated_at: when it was last written.
    :param ended: the newest claim whose try ran to its own end (``None``: none did).
    """

    key: LedgerKey
    generation: int | None
    first_claim: int
    claim: int
    fence: int
    expires_at: datetime
    updated_at: datetime | None = None
    ended: int | None = None

    def is_expired(self, now: datetime) -> bool:
        """Whether the retention has passed.

        :param now: the current time (aware).
        """
        return now >= self.expires_at

    def to_json(self) -> dict[str, Any]:
        """The head as a JSON object."""
        return {
            "kind": RECORD_KIND,
            "version": RECORD_VERSION,
            "task_instance": self.key.as_dict(),
            "generation": self.generation,
            "first_claim": self.first_claim,
            "claim": self.claim,
            "fence": self.fence,
            "ended": self.ended,
            "updated_at": (self.updated_at or datetime.now(timezone.utc)).isoformat(),
            "expires_at": self.expires_at.isoformat(),
        }

    @classmethod
    def from_json(cls, stored: Any, *, name: str, expected: LedgerKey) -> LedgerHead:
        """Parse and check a stored head; anything unexpected is a :class:`SendLedgerError`.

        :param stored: the stored value: JSON text or an already decoded object.
        :param name: the record's name or location, for the error.
        :param expected: the task instance that is reading it.
        :raises SendLedgerError: corrupt, foreign, another format, or another task instance's.
        """
        data = _checked(stored, name, expected, RECORD_KIND)
        generation = data.get("generation")
        numbers = [data.get(k) for k in ("first_claim", "claim", "fence")]
        ended = data.get("ended")
        if not (generation is None or isinstance(generation, int)):
            raise _corrupt(name, "has a malformed generation")
        if not all(isinstance(n, int) for n in numbers) or not (ended is None or isinstance(ended, int)):
            raise _corrupt(name, "has no valid first_claim/claim/fence/ended")
        first, claim_no, fence = (int(n) for n in numbers)  # type: ignore[arg-type] # checked above
        return cls(expected, generation, first, claim_no, fence, *_times(data, name), ended=ended)


@dataclass(frozen=True)
class LedgerRow:
    """One row of a chunk.

    :param key: :func:`content_key` of a bulk row; ``"message"`` for a single send.
    :param index: where the row stood in its batch.
    :param recipients_key: :func:`recipients_key` of its recipients.
    :param state: ``"sending"`` or ``"accepted"``.
    :param try_number: the try that sent it.
    :param result: the ids (accepted rows).
    :param info: what a single send records to help find its message.
    """

    key: str
    index: int
    recipients_key: str
    state: str
    try_number: int
    result: dict[str, Any] | None = None
    info: dict[str, Any] | None = None

    def as_list(self) -> list[Any]:
        """The row as packed in a chunk (its try is the chunk's)."""
        return [self.key, self.index, self.recipients_key, self.state, self.result, self.info]


def encode_chunk(
    key: LedgerKey,
    *,
    generation: int | None,
    try_number: int,
    claim: int,
    chunk: int,
    rows: Iterable[LedgerRow],
    expires_at: datetime,
) -> list[tuple[str, dict[str, Any]]]:
    """A chunk as ``(name suffix, value)`` pairs, further parts first, the chunk itself last.

    Writing them in this order means a reader never finds a chunk whose parts are not there yet.

    :param key: the task instance.
    :param generation: the head's generation.
    :param try_number: the writing try.
    :param claim: its claim.
    :param chunk: the chunk's number within the claim.
    :param rows: the chunk's rows.
    :param expires_at: the retention end.
    """
    body = json.dumps([row.as_list() for row in rows], separators=(",", ":"), ensure_ascii=False)
    data = base64.b64encode(zlib.compress(body.encode(), 6)).decode("ascii")
    pieces = [data[i : i + MAX_VALUE_CHARS] for i in range(0, len(data), MAX_VALUE_CHARS)] or [""]
    expires = expires_at.isoformat()
    values: list[tuple[str, dict[str, Any]]] = [
        (chunk_suffix(claim, chunk, k), {"kind": PART_KIND, "expires_at": expires, "data": piece})
        for k, piece in enumerate(pieces[1:], start=1)
    ]
    values.append(
        (
            chunk_suffix(claim, chunk),
            {
                "kind": CHUNK_KIND,
                "version": RECORD_VERSION,
                "task_instance": key.as_dict(),
                "generation": generation,
                "try_number": try_number,
                "claim": claim,
                "chunk": chunk,
                "expires_at": expires,
                "parts": len(pieces),
                "data": pieces[0],
            },
        )
    )
    return values


def chunk_parts(stored: Any, *, name: str, expected: LedgerKey) -> tuple[int, int, str]:
    """Check a stored chunk; return ``(try_number, parts, first piece)``.

    :param stored: the stored value.
    :param name: where it is, for the error.
    :param expected: the task instance that is reading it.
    :raises SendLedgerError: corrupt, foreign or another format.
    """
    data = _checked(stored, name, expected, CHUNK_KIND)
    try_number, parts, piece = data.get("try_number"), data.get("parts"), data.get("data")
    if not isinstance(try_number, int) or not isinstance(parts, int) or not isinstance(piece, str):
        raise _corrupt(name, "is a malformed chunk")
    return try_number, parts, piece


def part_piece(stored: Any, *, name: str) -> str:
    """The packed text of a further part of a chunk.

    :param stored: the stored value.
    :param name: where it is, for the error.
    """
    data = _decoded(stored, name)
    if not isinstance(data, dict) or data.get("kind") != PART_KIND or not isinstance(data.get("data"), str):
        raise _corrupt(name, "is not a part of a send-ledger chunk")
    return str(data["data"])


def decode_rows(packed: str, try_number: int, *, name: str) -> list[LedgerRow]:
    """The rows of a chunk from its packed text (every part joined).

    :param packed: the chunk's packed text.
    :param try_number: the try that wrote it.
    :param name: where it is, for the error.
    """
    try:
        listed = json.loads(zlib.decompress(base64.b64decode(packed)))
        rows = [
            LedgerRow(str(k), int(i), str(r), str(s), try_number, res, info)
            for k, i, r, s, res, info in listed
        ]
    except (ValueError, TypeError, zlib.error):
        raise _corrupt(name, "has rows that cannot be read") from None
    for row in rows:
        if row.state not in {s.value for s in RowState}:
            raise _corrupt(name, f"has a row in an unknown state {row.state!r}")
        if row.state == RowState.ACCEPTED.value and not isinstance(row.result, dict):
            raise _corrupt(name, f"has an accepted row {row.key!r} without its result")
    return rows


def expiry_of(stored: Any) -> datetime | None:
    """When a stored head, chunk or part of any task instance expires (``None``: not a ledger value).

    :param stored: the stored value.
    """
    try:
        data = json.loads(stored) if isinstance(stored, (str, bytes)) else stored
        if isinstance(data, dict) and data.get("kind") in (RECORD_KIND, CHUNK_KIND, PART_KIND):
            return _aware(datetime.fromisoformat(data["expires_at"]))
    except (KeyError, TypeError, ValueError):
        pass
    return None


def _corrupt(name: str, problem: str) -> SendLedgerError:
    return SendLedgerError(
        f"send ledger record {name} {problem}. Nothing was sent: a record that cannot be read "
        "could hide a message that already went out. Check the record; delete it only if you "
        "are sure nobody received this task instance's message, or clear the task to send again.",
        record=name,
    )


def _decoded(stored: Any, name: str) -> Any:
    if isinstance(stored, (str, bytes)):
        try:
            return json.loads(stored)
        except ValueError:
            raise _corrupt(name, "is not JSON") from None
    return stored


def _checked(stored: Any, name: str, expected: LedgerKey, kind: str) -> dict[str, Any]:
    data = _decoded(stored, name)
    if not isinstance(data, dict) or data.get("kind") != kind:
        raise _corrupt(name, f'is not a send-ledger record (no "kind": "{kind}")')
    if data.get("version") != RECORD_VERSION:
        raise _corrupt(
            name, f"has format version {data.get('version')!r}; this provider reads {RECORD_VERSION}"
        )
    owner = data.get("task_instance")
    if owner != expected.as_dict():
        raise _corrupt(name, f"belongs to another task instance ({owner!r}, expected {expected.as_dict()!r})")
    return data


def _times(data: Mapping[str, Any], name: str) -> tuple[datetime, datetime]:
    try:
        return _aware(datetime.fromisoformat(data["expires_at"])), _aware(
            datetime.fromisoformat(data["updated_at"])
        )
    except (KeyError, TypeError, ValueError):
        raise _corrupt(name, "has no valid expires_at/updated_at") from None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class Action(str, Enum):
    """What a try does with a row it finds."""

    SEND = "send"
    RETURN_RESULT = "return_result"
    UNKNOWN_OUTCOME = "unknown_outcome"


def decide(earlier: LedgerRow | None) -> Action:
    """Whether this try sends a row, returns an earlier try's result, or meets an unknown outcome.

    :param earlier: what an earlier try of this generation recorded for the row (``None``: nothing).
    """
    if earlier is None:
        return Action.SEND
    if earlier.state == RowState.ACCEPTED.value:
        return Action.RETURN_RESULT
    return Action.UNKNOWN_OUTCOME


def same_generation(head: LedgerHead, *, max_tries: int | None) -> bool:
    """Whether a try continues the attempt to send of ``head`` (``False`` after a clear).

    The same ``max_tries`` (a retry, or a running task cleared whose try reported its end), or a
    newest try that was cut off (a running task cleared, a kill or a timeout, then a clear): the
    same attempt. ``retries`` plays no part (see the module docstring).

    :param head: the stored head.
    :param max_tries: ``ti.max_tries`` of this try.
    """
    return head.generation == max_tries or head.ended != head.claim


def was_cut_off(error: BaseException) -> bool:
    r"""Whether a try that raised ``error`` was cut off (killed, timed out, terminated by a clear)
    rather than ending on its own: ``BaseException``\ s that are not ``Exception``\ s (Airflow's
    ``AirflowTaskTimeout`` and ``AirflowTaskTerminated`` among them, ``KeyboardInterrupt``,
    ``SystemExit``).

    :param error: what the try raised.
    """
    return not isinstance(error, Exception) or type(error).__name__ in {
        "AirflowTaskTimeout",
        "AirflowTaskTerminated",
    }


def claim(
    head: LedgerHead | None,
    key: LedgerKey,
    *,
    max_tries: int | None,
    try_number: int,
    expires_at: datetime,
    where: str,
    expired: bool = False,
) -> tuple[LedgerHead, bool]:
    """The head a starting try writes (its new claim), and whether it continues the stored generation.

    :param head: the stored head (``None`` when there is none).
    :param key: the task instance.
    :param max_tries: ``ti.max_tries`` of this try.
    :param try_number: ``ti.try_number`` of this try.
    :param expires_at: the retention end.
    :param where: where the head is, for the error.
    :param expired: the stored head has expired: its rows are ignored (its claims still count).
    :raises SendLedgerFenced: a newer try has claimed the ledger already.
    """
    if head is not None:
        check_fence(head, claim=0, try_number=try_number, where=where, claiming=True)
    number = 1 if head is None else head.claim + 1
    if head is None or expired or not same_generation(head, max_tries=max_tries):
        return LedgerHead(key, max_tries, number, number, try_number, expires_at), False
    # a continued generation takes this try's max_tries: a later clear compares with it
    return LedgerHead(
        key, max_tries, head.first_claim, number, try_number, expires_at, ended=head.ended
    ), True


def check_fence(
    head: LedgerHead | None, *, claim: int, try_number: int, where: str, claiming: bool = False
) -> None:
    """Raise when another try holds the ledger: a newer try number (``claiming``), else another claim.

    :param head: the head as just read (``None``: deleted, which only a user does).
    :param claim: this try's claim.
    :param try_number: this try.
    :param where: where the head is, for the error.
    :param claiming: the check of a try about to claim (only a newer try stops it).
    """
    # claiming: only a newer try number stops it (an equal one is a run created again under the same
    # run id, which claims after it); later: any claim but its own, an older try's included
    stale = (
        (head is not None and head.fence > try_number) if claiming else (head is None or head.claim != claim)
    )
    if stale:
        holder = f"claimed by try {head.fence}" if head is not None else "gone"
        raise SendLedgerFenced(
            f"try {try_number} stops before its next send: the send ledger ({where}) is {holder}. "
            "Another try of this task instance runs (this one was frozen or cut off and Airflow "
            "started the next); it sends what this one has not.",
            record=where,
        )
