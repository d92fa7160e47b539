"""The send ledger: choose where records live, read and write one task instance's record, purge."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_mail._ledger.backends import (
    LedgerBackend,
    ObjectStorageBackend,
    TaskStateStoreBackend,
    VariableBackend,
)
from airflow_provider_mail._ledger.record import DEFAULT_RETENTION, LedgerKey, LedgerRecord
from airflow_provider_mail.exceptions import MailConfigurationError, SendLedgerError, SendLedgerUnavailable

#: Airflow configuration section of the provider's options.
CONFIG_SECTION = "mail_provider"
#: ``ledger=`` values that are not URLs.
DEFAULT, VARIABLE, TASK_STATE_STORE, OFF = "default", "variable", "task_state_store", "off"


class SendLedger:
    """One task instance's record in a backend.

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

    def load(self, now: datetime | None = None) -> LedgerRecord | None:
        """The record, or ``None`` when there is none or it expired.

        :param now: the current time (for tests).
        :raises SendLedgerError: the stored value is corrupt or not this task instance's record.
        :raises SendLedgerUnavailable: the backend failed.
        """
        try:
            stored = self.backend.read(self.key)
        except Exception as err:
            raise SendLedgerUnavailable(
                f"could not read the send ledger ({self.where}): {err!r}", record=self.where
            ) from err
        if stored is None:
            return None
        record = LedgerRecord.from_json(stored, name=self.where, expected=self.key)
        return None if record.is_expired(now or datetime.now(timezone.utc)) else record

    def new_record(self, generation: int | None) -> LedgerRecord:
        """An empty record of this task instance.

        :param generation: ``ti.max_tries`` of the writing try.
        """
        return LedgerRecord(self.key, generation, datetime.now(timezone.utc) + self.retention)

    def save(self, record: LedgerRecord) -> None:
        """Write the record, renewing its expiry.

        :param record: the record.
        :raises SendLedgerUnavailable: the backend failed.
        """
        now = datetime.now(timezone.utc)
        record.updated_at, record.expires_at = now, now + self.retention
        try:
            self.backend.write(self.key, record.to_json(), self.retention)
        except Exception as err:
            raise SendLedgerUnavailable(
                f"could not write the send ledger ({self.where}): {err!r}", record=self.where
            ) from err

    def forget(self) -> None:
        """Delete the record.

        :raises SendLedgerUnavailable: the backend failed.
        """
        try:
            self.backend.delete(self.key)
        except Exception as err:
            raise SendLedgerUnavailable(
                f"could not delete the send ledger record ({self.where}): {err!r}", record=self.where
            ) from err


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
    """Delete the expired records of a Variable or object-storage ledger; return their names.

    Records are also ignored once expired, so purging only tidies up. Corrupt or foreign records
    under the ledger's names are left alone (they are reported when a task meets them). Task
    state store records are purged by Airflow itself.

    :param location: ``"variable"`` or an object-storage URL.
    :param now: the current time (for tests).
    """
    backend: VariableBackend | ObjectStorageBackend
    backend = VariableBackend() if location.strip().lower() == VARIABLE else ObjectStorageBackend(location)
    now = now or datetime.now(timezone.utc)
    purged = []
    for name in backend.names():
        stored = backend.read_name(name)
        try:
            owner = _record_owner(stored)
            record = LedgerRecord.from_json(stored, name=name, expected=owner)
        except (SendLedgerError, KeyError, TypeError, ValueError):
            continue
        if record.is_expired(now):
            backend.delete_name(name)
            purged.append(name)
    return purged


def _record_owner(stored: Any) -> LedgerKey:
    import json

    data = json.loads(stored) if isinstance(stored, (str, bytes)) else stored
    return LedgerKey(**data["task_instance"])


def _get(context: Any, key: str) -> Any:
    try:
        return context.get(key)
    except Exception:
        return None
