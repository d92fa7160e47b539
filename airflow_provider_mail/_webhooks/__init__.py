"""Pure cores of the events that come *in*: Postal (Sender25) webhooks, no I/O.

* :mod:`.signature` — the public key (PEM, the DKIM ``p=`` value, a JWKS) and the RSA signature check;
* :mod:`.envelope` — the envelope (``event``, ``timestamp``, ``payload``, ``uuid``), its time window, and
  the asset-event ``extra`` built from it;
* :mod:`.settings` — the webhook settings of a ``sender25`` connection;
* :mod:`.trace` — the ``X-Airflow-Trace`` value of a sent message read back as a dict.

The api-server plugin (:mod:`airflow_provider_mail.webhooks`) only moves bytes and records what these
decide. What is refused and why is decided here once.
"""
