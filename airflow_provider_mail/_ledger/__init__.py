"""The send ledger: what each task instance already sent, so that a retried try never sends it again.

The documented interface (everything else in this package is internal):

* :func:`open_ledger` (``context, location``) → a :class:`SendLedger` for the running task instance,
  or ``None`` when the ledger is off. ``location`` is the operators' ``ledger=`` argument.
* :class:`SendLedger`: ``load()`` → :class:`LedgerRecord` or ``None`` (absent or expired),
  ``new_record(generation)``, ``save(record)``, ``forget()``, ``where`` (for messages).
* :class:`LedgerRecord`: ``generation`` (``ti.max_tries`` of the writer), ``expires_at`` and
  ``rows: {row_key: {"state", "try_number", ids…, "result"}}``: one row per send, so a bulk
  sender keeps one record per batch with a row per recipient.
* :func:`decide` → :class:`Action` (send, return the earlier result, or unknown outcome).
* :func:`ledger_record_name` (``dag_id, task_id, run_id, map_index``) → the Variable key / object name.
* :func:`purge_expired` (``"variable"`` or a URL) deletes expired records.

Record format and the retry-versus-clear rule: :mod:`airflow_provider_mail._ledger.record`.
"""

from __future__ import annotations

from airflow_provider_mail._ledger.ledger import SendLedger, open_ledger, purge_expired, resolve_backend
from airflow_provider_mail._ledger.record import (
    DEFAULT_RETENTION,
    MESSAGE_ROW,
    NAME_PREFIX,
    Action,
    LedgerKey,
    LedgerRecord,
    RowState,
    decide,
    ledger_record_name,
    same_attempt,
)

__all__ = [
    "DEFAULT_RETENTION",
    "MESSAGE_ROW",
    "NAME_PREFIX",
    "Action",
    "LedgerKey",
    "LedgerRecord",
    "RowState",
    "SendLedger",
    "decide",
    "ledger_record_name",
    "open_ledger",
    "purge_expired",
    "resolve_backend",
    "same_attempt",
]
