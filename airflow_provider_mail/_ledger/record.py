"""The send ledger's record: its name, its JSON format and the retry-or-clear decision. No I/O here.

One record per task instance (``dag_id``, ``task_id``, ``run_id``, ``map_index``)::

    {
      "kind": "airflow_provider_mail.send_ledger",
      "version": 1,
      "task_instance": {"dag_id": "...", "task_id": "...", "run_id": "...", "map_index": -1},
      "generation": 2,                  # ti.max_tries of the try that wrote it (see below)
      "updated_at": "2026-11-28T04:29:23+00:00",
      "expires_at": "2026-12-05T04:29:23+00:00",
      "rows": {
        "message": {                    # one row per send; a bulk sender keeps one per recipient/row
          "state": "accepted",          # "sending" (request about to go out) or "accepted"
          "try_number": 1,
          "service": "sender25",
          "trace": "dag_id=...; task_id=...; run_id=...; map_index=-1; try_number=1",
          "message_id": "...",          # when known before the answer (raw and SMTP sends)
          "mail_from": "...", "recipients": ["..."],
          "started_at": "...", "accepted_at": "...",
          "result": {...}               # the operator's XCom: ids only
        }
      }
    }

Only states, ids and trace values are kept: never a body, an attachment or a credential.

**Retry or clear.** Airflow gives every try a new ``try_number``, for retries and for clears alike;
what only a clear changes is ``max_tries``: clearing sets it to ``try_number + retries`` (Airflow
2.11 and 3.x, ``clear_task_instances``), which is always larger than the value the tries since the
previous clear ran with, and a retry never changes it. So a record stores the ``max_tries`` its try
saw (its *generation*): a later try with the same ``max_tries`` is a retry of the same attempt to
send (it must not send again), a different ``max_tries`` means a user cleared the task instance
(a new request to send: the old rows are ignored).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any

from airflow_provider_mail.exceptions import SendLedgerError

RECORD_KIND = "airflow_provider_mail.send_ledger"
RECORD_VERSION = 1
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
    when the name would exceed 250 characters (the Variable key limit) the readable part is cut.

    :param dag_id: the DAG id.
    :param task_id: the task id.
    :param run_id: the DAG run id.
    :param map_index: the map index (``-1`` when not mapped).
    """
    identity = json.dumps([dag_id, task_id, run_id, int(map_index)], ensure_ascii=False)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:_HASH_CHARS]
    readable = _UNSAFE.sub("_", f"{dag_id}.{task_id}.{run_id}.{int(map_index)}")
    room = MAX_NAME_LENGTH - len(NAME_PREFIX) - 1 - _HASH_CHARS
    return f"{NAME_PREFIX}{readable[:room]}.{digest}"


@dataclass
class LedgerRecord:
    """A task instance's record: its generation, expiry and rows.

    :param key: the task instance.
    :param generation: ``max_tries`` seen by the try that wrote it (``None`` when unknown).
    :param expires_at: after this, the record is ignored and may be deleted.
    :param rows: row key → row (``state``, ``try_number``, ids, trace, ``result``).
    :param updated_at: when it was last written.
    """

    key: LedgerKey
    generation: int | None
    expires_at: datetime
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    updated_at: datetime | None = None

    def is_expired(self, now: datetime) -> bool:
        """Whether the retention has passed.

        :param now: the current time (aware).
        """
        return now >= self.expires_at

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON object."""
        return {
            "kind": RECORD_KIND,
            "version": RECORD_VERSION,
            "task_instance": self.key.as_dict(),
            "generation": self.generation,
            "updated_at": (self.updated_at or datetime.now(timezone.utc)).isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "rows": self.rows,
        }

    @classmethod
    def from_json(cls, stored: Any, *, name: str, expected: LedgerKey) -> LedgerRecord:
        """Parse and check a stored record; anything unexpected is a :class:`SendLedgerError`.

        :param stored: the stored value: JSON text or an already decoded object.
        :param name: the record's name or location, for the error.
        :param expected: the task instance that is reading it.
        :raises SendLedgerError: corrupt, foreign, newer format, or another task instance's record.
        """

        def fail(problem: str) -> SendLedgerError:
            return SendLedgerError(
                f"send ledger record {name} {problem}. Nothing was sent: a record that cannot be read "
                "could hide a message that already went out. Check the record; delete it only if you "
                "are sure nobody received this task instance's message, or clear the task to send again.",
                record=name,
            )

        data = stored
        if isinstance(stored, (str, bytes)):
            try:
                data = json.loads(stored)
            except ValueError:
                raise fail("is not JSON") from None
        if not isinstance(data, dict) or data.get("kind") != RECORD_KIND:
            raise fail(f'is not a send-ledger record (no "kind": "{RECORD_KIND}")')
        if data.get("version") != RECORD_VERSION:
            raise fail(f"has format version {data.get('version')!r}; this provider reads {RECORD_VERSION}")
        owner = data.get("task_instance")
        if owner != expected.as_dict():
            raise fail(f"belongs to another task instance ({owner!r}, expected {expected.as_dict()!r})")
        rows = data.get("rows")
        generation = data.get("generation")
        if not isinstance(rows, dict) or not (generation is None or isinstance(generation, int)):
            raise fail("has malformed rows or generation")
        for row_key, row in rows.items():
            if not isinstance(row, dict) or row.get("state") not in {s.value for s in RowState}:
                raise fail(f"has a malformed row {row_key!r}")
            if not isinstance(row.get("try_number"), int):
                raise fail(f"has a row {row_key!r} without try_number")
            if row["state"] == RowState.ACCEPTED.value and not isinstance(row.get("result"), dict):
                raise fail(f"has an accepted row {row_key!r} without its result")
        try:
            expires_at = _aware(datetime.fromisoformat(data["expires_at"]))
            updated_at = _aware(datetime.fromisoformat(data["updated_at"]))
        except (KeyError, TypeError, ValueError):
            raise fail("has no valid expires_at/updated_at") from None
        return cls(expected, generation, expires_at, dict(rows), updated_at)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class Action(str, Enum):
    """What a try does with a row it finds."""

    SEND = "send"
    RETURN_RESULT = "return_result"
    UNKNOWN_OUTCOME = "unknown_outcome"


def decide(
    record: LedgerRecord | None,
    row_key: str,
    *,
    max_tries: int | None,
    try_number: int | None,
) -> tuple[Action, dict[str, Any] | None]:
    """Decide whether this try sends, returns an earlier try's result, or meets an unknown outcome.

    :param record: the task instance's record, ``None`` when there is none (or it expired).
    :param row_key: the row of this send.
    :param max_tries: ``ti.max_tries`` of this try.
    :param try_number: ``ti.try_number`` of this try.
    :returns: the action and the earlier row it is based on (``None`` for a fresh send).
    """
    if record is None or not same_attempt(record, max_tries=max_tries, try_number=try_number):
        return Action.SEND, None
    row = record.rows.get(row_key)
    if row is None:
        return Action.SEND, None
    if row["state"] == RowState.ACCEPTED.value:
        return Action.RETURN_RESULT, row
    return Action.UNKNOWN_OUTCOME, row


def same_attempt(record: LedgerRecord, *, max_tries: int | None, try_number: int | None) -> bool:
    """Whether this try retries the tries that wrote ``record`` (``False`` after a clear).

    A clear changes ``max_tries``; a retry never does, and never runs past ``max_tries + 1``.

    :param record: the stored record.
    :param max_tries: ``ti.max_tries`` of this try.
    :param try_number: ``ti.try_number`` of this try.
    """
    if record.generation != max_tries:
        return False
    return not (max_tries is not None and try_number is not None and try_number > max_tries + 1)
