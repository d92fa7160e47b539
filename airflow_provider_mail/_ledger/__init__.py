"""The send ledger: what each task instance already sent, so that a retried try never sends it again.

The documented interface (everything else in this package is internal):

* :func:`open_ledger` (``context, location``) → a :class:`SendLedger` for the running task instance,
  or ``None`` when the ledger is off. ``location`` is the operators' ``ledger=`` argument.
* :class:`SendLedger`: ``begin(max_tries=, try_number=)`` claims the ledger for the running try
  and returns an :class:`Attempt`; ``where`` (for messages).
* :class:`Attempt`: ``earlier.find(key, index)`` → the :class:`LedgerRow` an earlier try of this
  generation recorded for a row; ``mark(rows)`` (``sending``, then the fence check) and
  ``settle(chunk, rows)`` write one chunk.
* :func:`decide` → :class:`Action` (send, return the earlier result, or unknown outcome);
  :func:`content_key` / :func:`recipients_key` name a row by what it is.
* :func:`ledger_record_name` (``dag_id, task_id, run_id, map_index``) → the Variable key / object name.
* :func:`purge_expired` (``"variable"`` or a URL) deletes expired records.

Record format and the retry-versus-clear rule: :mod:`airflow_provider_mail._ledger.record`.
"""

from __future__ import annotations

from airflow_provider_mail._ledger.ledger import (
    Attempt,
    SendLedger,
    open_ledger,
    purge_expired,
    resolve_backend,
)
from airflow_provider_mail._ledger.record import (
    DEFAULT_RETENTION,
    MESSAGE_ROW,
    NAME_PREFIX,
    Action,
    LedgerHead,
    LedgerKey,
    LedgerRow,
    RowState,
    content_key,
    decide,
    ledger_record_name,
    recipients_key,
    same_generation,
)

__all__ = [
    "DEFAULT_RETENTION",
    "MESSAGE_ROW",
    "NAME_PREFIX",
    "Action",
    "Attempt",
    "LedgerHead",
    "LedgerKey",
    "LedgerRow",
    "RowState",
    "SendLedger",
    "content_key",
    "decide",
    "ledger_record_name",
    "open_ledger",
    "purge_expired",
    "recipients_key",
    "resolve_backend",
    "same_generation",
]
