"""The send ledger: choose where records live, read and write one task instance's record, purge."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_mail._ledger.backends import (
    LedgerBackend,
    ObjectStorageBackend,
    TaskStateStoreBackend,
    VariableBackend,
)
from airflow_provider_mail._ledger.earlier import EarlierRows
from airflow_provider_mail._ledger.record import (
    DEFAULT_RETENTION,
    LedgerHead,
    LedgerKey,
    LedgerRow,
    check_fence,
    chunk_parts,
    chunk_suffix,
    claim,
    decode_rows,
    encode_chunk,
    expiry_of,
    part_piece,
    was_cut_off,
)
from airflow_provider_mail.exceptions import MailConfigurationError, SendLedgerError, SendLedgerUnavailable

log = logging.getLogger(__name__)

#: Airflow configuration section of the provider's options.
CONFIG_SECTION = "mail_provider"
#: ``ledger=`` values that are not URLs.
DEFAULT, VARIABLE, TASK_STATE_STORE, OFF = "default", "variable", "task_state_store", "off"


class SendLedger:
    """One task instance's ledger in a backend: its head and its chunks.

    :param backend: where records live.
    :param key: the task instance.
    :param retention: how long a record is honoured after its last write.
    """

    def __init__(
        self, backend: LedgerBackend, key: LedgerKey, retention: timedelta = DEFAULT_RETENTION
    ) -> None:
        self.backend = backend
        self.key = key
        self.retention = retention

    @property
    def where(self) -> str:
        """Where the record is, for logs and error messages."""
        return self.backend.describe(self.key)

    def read_head(self) -> LedgerHead | None:
        """The head as stored, expired or not (``None`` when there is none).

        :raises SendLedgerError: the stored value is corrupt or not this task instance's record.
        :raises SendLedgerUnavailable: the backend failed.
        """
        stored = self._read("")
        return None if stored is None else LedgerHead.from_json(stored, name=self.where, expected=self.key)

    def begin(self, *, max_tries: int | None, try_number: int | None, now: datetime | None = None) -> Attempt:
        """Claim the ledger for this try and read what the earlier tries of its generation sent.

        The claim is written before anything is read, so a stale try that marks a chunk after this
        read finds the claim when it checks the fence (see :mod:`~._ledger.record`).

        :param max_tries: ``ti.max_tries`` of this try.
        :param try_number: ``ti.try_number`` of this try.
        :param now: the current time (for tests).
        :raises SendLedgerFenced: a newer try has claimed the ledger already.
        """
        now = now or datetime.now(timezone.utc)
        number = int(try_number or 0)
        stored = self.read_head()
        head, continues = claim(
            stored,
            self.key,
            max_tries=max_tries,
            try_number=number,
            expires_at=now + self.retention,
            where=self.where,
            expired=stored is not None and stored.is_expired(now),
        )
        head.updated_at = now
        self._write("", head.to_json())
        earlier = EarlierRows()
        if continues:
            for earlier_claim in range(head.first_claim, head.claim):
                for rows in self._chunks_of(earlier_claim):
                    earlier.add_chunk(rows, rows[0].try_number if rows else 0)
        earlier.seal()
        return Attempt(self, head, earlier, number)

    def _chunks_of(self, claim_number: int) -> Iterator[list[LedgerRow]]:
        """The chunks a claim (a try) wrote, in order: chunk ``n`` is written before ``n + 1``, so
        the first one missing ends them."""
        for chunk in itertools.count():
            suffix = chunk_suffix(claim_number, chunk)
            stored = self._read(suffix)
            if stored is None:
                return
            name = self.backend.describe(self.key, suffix)
            writer, parts, piece = chunk_parts(stored, name=name, expected=self.key)
            pieces = [piece]
            for part in range(1, parts):
                part_suffix = chunk_suffix(claim_number, chunk, part)
                more = self._read(part_suffix)
                if more is None:
                    raise SendLedgerError(
                        f"send ledger chunk {name} misses its part {part}; nothing was sent", record=name
                    )
                pieces.append(part_piece(more, name=self.backend.describe(self.key, part_suffix)))
            yield decode_rows("".join(pieces), writer, name=name)

    def _read(self, suffix: str) -> Any:
        try:
            return self.backend.read(self.key, suffix)
        except Exception as err:
            where = self.backend.describe(self.key, suffix)
            raise SendLedgerUnavailable(
                f"could not read the send ledger ({where}): {err!r}", record=where
            ) from err

    def _write(self, suffix: str, value: dict[str, Any]) -> None:
        try:
            self.backend.write(self.key, value, self.retention, suffix)
        except Exception as err:
            where = self.backend.describe(self.key, suffix)
            raise SendLedgerUnavailable(
                f"could not write the send ledger ({where}): {err!r}", record=where
            ) from err


class Attempt:
    """One try's hold on the ledger: what earlier tries sent, and this try's chunks.

    A chunk is written twice: its rows ``sending`` before they go out (:meth:`mark`, which then
    checks the fence), and settled once their answers are in (:meth:`settle`). Each write costs
    what the chunk holds.

    :param ledger: the ledger.
    :param head: the head this try wrote.
    :param earlier: the rows of earlier tries of this generation.
    :param try_number: this try.
    """

    def __init__(self, ledger: SendLedger, head: LedgerHead, earlier: EarlierRows, try_number: int) -> None:
        self.ledger = ledger
        self.head = head
        self.earlier = earlier
        self.try_number = try_number
        self.chunks = 0
        #: Bytes written to the store by this try (for the benchmark and the log).
        self.bytes_written = 0

    @property
    def where(self) -> str:
        """Where the ledger is."""
        return self.ledger.where

    def mark(self, rows: list[LedgerRow]) -> int:
        """Record a chunk's rows as ``sending``, then check that no newer try has claimed the ledger.

        :param rows: the rows about to be sent.
        :returns: the chunk's number, for :meth:`settle`.
        :raises SendLedgerFenced: a newer try runs: send nothing.
        :raises SendLedgerUnavailable: the write failed: nothing of this chunk went out.
        """
        chunk = self.chunks
        self.chunks += 1
        self._write_chunk(chunk, rows)
        check_fence(
            self.ledger.read_head(), claim=self.head.claim, try_number=self.try_number, where=self.where
        )
        return chunk

    def settle(self, chunk: int, rows: list[LedgerRow]) -> None:
        """Rewrite a chunk once its answers are in: accepted rows with their ids, rows still
        ``sending`` (no answer), and no row for what was refused (nothing went out).

        :param chunk: the number :meth:`mark` gave.
        :param rows: the chunk's rows now.
        :raises SendLedgerUnavailable: the write failed.
        """
        self._write_chunk(chunk, rows)

    def end(self, error: BaseException | None = None) -> None:
        """Record that this try ran to its own end, unless ``error`` cut it off; a later clear then
        starts a new generation (see :mod:`~._ledger.record`). Never raises: the try's own outcome
        matters more than this mark.

        :param error: what the try raised, if it raised.
        """
        if error is not None and was_cut_off(error):
            return
        try:
            head = self.ledger.read_head()
            if head is None or head.claim != self.head.claim:
                return  # a newer try owns the ledger: its claim is not overwritten
            head.ended = head.claim
            head.updated_at = datetime.now(timezone.utc)
            self.ledger._write("", head.to_json())
        except (SendLedgerError, SendLedgerUnavailable) as err:
            log.warning("Could not record the end of try %s in the send ledger: %s", self.try_number, err)

    def _write_chunk(self, chunk: int, rows: list[LedgerRow]) -> None:
        values = encode_chunk(
            self.ledger.key,
            generation=self.head.generation,
            try_number=self.try_number,
            claim=self.head.claim,
            chunk=chunk,
            rows=rows,
            expires_at=datetime.now(timezone.utc) + self.ledger.retention,
        )
        for suffix, value in values:
            self.ledger._write(suffix, value)
            self.bytes_written += len(json.dumps(value))


def configured_location() -> str:
    """``[mail_provider] send_ledger`` from Airflow's configuration (``"default"`` when unset)."""
    from airflow.configuration import conf

    return conf.get(CONFIG_SECTION, "send_ledger", fallback=DEFAULT) or DEFAULT


def configured_retention() -> timedelta:
    """``[mail_provider] send_ledger_retention_days`` (default 7)."""
    from airflow.configuration import conf

    days = conf.getfloat(CONFIG_SECTION, "send_ledger_retention_days", fallback=DEFAULT_RETENTION.days)
    if days <= 0:
        raise MailConfigurationError(f"[{CONFIG_SECTION}] send_ledger_retention_days must be > 0, got {days}")
    return timedelta(days=days)


def resolve_backend(location: str | None, context: Any) -> LedgerBackend | None:
    """The backend for a ``ledger=`` value; ``None`` when the ledger is off.

    ``None`` reads ``[mail_provider] send_ledger``. ``"default"``: the task state store when the
    running Airflow offers one (3.3+), else Variables. ``"variable"``, ``"task_state_store"``,
    ``"off"``, or an object-storage URL (``s3://bucket/prefix``, ``file:///dir``).

    :param location: the operator's ``ledger`` argument.
    :param context: the task context.
    :raises MailConfigurationError: for an unknown value, or a task state store that is not there.
    """
    value = (configured_location() if location is None else str(location)).strip()
    word = value.lower()
    store = _get(context, "task_state_store")
    if word == OFF:
        return None
    if word == DEFAULT:
        return TaskStateStoreBackend(store) if store is not None else VariableBackend()
    if word == VARIABLE:
        return VariableBackend()
    if word == TASK_STATE_STORE:
        if store is None:
            raise MailConfigurationError(
                "ledger='task_state_store' needs Airflow 3.3+ (context['task_state_store']); "
                "use 'default', 'variable' or an object-storage URL"
            )
        return TaskStateStoreBackend(store)
    if "://" in value:
        return ObjectStorageBackend(value)
    raise MailConfigurationError(
        f"unknown send ledger {value!r}: use 'default', 'variable', 'task_state_store', 'off' "
        "or an object-storage URL such as 's3://bucket/prefix' or 'file:///var/lib/mail-ledger'"
    )


def open_ledger(context: Any, location: str | None = None) -> SendLedger | None:
    """The ledger of the running task instance, or ``None`` when it is turned off.

    :param context: the task context.
    :param location: the operator's ``ledger`` argument (``None``: the configured default).
    """
    backend = resolve_backend(location, context)
    if backend is None:
        return None
    return SendLedger(backend, LedgerKey.from_context(context), configured_retention())


def purge_expired(location: str, now: datetime | None = None) -> list[str]:
    """Delete the expired heads and chunks of a Variable or object-storage ledger; return their names.

    Records are also ignored once expired, so purging only tidies up. Values under the ledger's
    names that are not ledger values are left alone (they are reported when a task meets them).
    Task state store records are purged by Airflow itself.

    :param location: ``"variable"`` or an object-storage URL.
    :param now: the current time (for tests).
    """
    backend: VariableBackend | ObjectStorageBackend
    backend = VariableBackend() if location.strip().lower() == VARIABLE else ObjectStorageBackend(location)
    now = now or datetime.now(timezone.utc)
    purged = []
    for name in backend.names():
        expires_at = expiry_of(backend.read_name(name))
        if expires_at is not None and now >= expires_at:
            backend.delete_name(name)
            purged.append(name)
    return purged


def _get(context: Any, key: str) -> Any:
    try:
        return context.get(key)
    except Exception:
        return None
