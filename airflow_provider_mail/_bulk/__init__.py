"""Bulk sending, the parts without a service: rows in, per-row rendering, pacing, progress, results out.

* :mod:`.rows`: where rows come from (a list, an XCom, a CSV or JSONL file, local or object storage),
  streamed one at a time, never loaded whole;
* :mod:`.render`: a row's subject, bodies, headers and attachments rendered with the task's own Jinja
  environment and context, plus ``row``;
* :mod:`.gate`: the shared "not before" gate and the messages-per-second pace every sender obeys;
* :mod:`.progress`: the progress lines of the task log (done/total, rate, ETA, failures);
* :mod:`.results`: one JSON line per row in the results file, and the named error of a failed row;
* :mod:`.batch`: the batch itself: rows triaged against the send ledger, sent chunk by chunk by
  worker threads, settled, reported.

The operators (:mod:`airflow_provider_mail.operators.bulk`) add the service: clients, how a row is
built and sent, its XCom ids.
"""
