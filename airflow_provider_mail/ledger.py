"""The send ledger's public helpers: where a task instance's record lives, and the clean-up of expired ones.

The ledger itself needs no code from you: the send operators keep it (see the *Exactly once* page of
the docs). These are for an operator of the deployment:

* :func:`ledger_record_name` names the Airflow Variable (or the ``<name>.json`` object in your bucket)
  that holds one task instance's record, to look at it or delete it by hand;
* :func:`purge_expired` deletes the records past their retention (``[mail_provider]
  send_ledger_retention_days``). ``airflow mail-ledger purge URL`` runs it from the command line for an
  object-storage ledger (Airflow 3, whose CLI takes commands from providers). Purge a Variables ledger
  with ``purge_expired("variable")`` in a task: on Airflow 3 only a running task reads Variables.
"""

from __future__ import annotations

from airflow_provider_mail._ledger import DEFAULT_RETENTION, ledger_record_name, purge_expired

__all__ = ["DEFAULT_RETENTION", "ledger_record_name", "purge_expired"]
