"""Events in: run a DAG when a message bounces, fails, is delivered or is opened (Airflow 3 only).

Two sources become Airflow asset events:

* **Sender25 webhooks.** The provider's Airflow plugin serves ``POST /mail/webhooks/sender25/<conn_id>`` on
  the api-server. Each webhook whose Postal signature verifies with the connection's key becomes one
  asset event on :func:`sender25_event_asset` ``(event, conn_id)``; retries of the same webhook (same
  ``uuid``) are recorded once.
* **xmailer's report.** :func:`xmailer_bounce_asset` returns an asset watched by
  :class:`~airflow_provider_mail.triggers.xmailer_failures.XmailerFailureTrigger`, which turns each new
  failed row of the report into one asset event.

Example::

    from airflow.sdk import dag, task
    from airflow_provider_mail.webhooks import mail_event_details, sender25_event_asset

    @dag(schedule=sender25_event_asset("MessageBounced") | sender25_event_asset("MessageDeliveryFailed"))
    def on_bounce():
        @task
        def suppress(*, triggering_asset_events=None):
            for events in triggering_asset_events.values():
                for event in events:
                    print(mail_event_details(event)["recipient"])

On Airflow 2 these helpers raise :class:`Airflow3Required` (an ``ImportError``): webhooks and watchers need
Airflow 3's assets; poll with the delivery sensors there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_mail._compat import Airflow3Required, require_airflow_3
from airflow_provider_mail._webhooks.envelope import SENDER25_EVENTS

if TYPE_CHECKING:
    from airflow.sdk import Asset

#: Airflow connection ids as they can appear in a URL path and an asset URI.
_CONN_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,200}$")
#: The api-server path of the webhook receiver; ``{conn_id}`` is the Sender25 connection's id.
WEBHOOK_PATH = "/mail/webhooks/sender25/{conn_id}"


def sender25_event_asset(event: str, conn_id: str = "sender25_default") -> Asset:
    """The asset that receives one event per verified Sender25 webhook of ``event`` for ``conn_id``.

    ``extra`` of each asset event: ``event``, ``uuid``, ``timestamp``, ``message_id`` and ``token`` (the
    ids the send API returned), ``recipient``, ``sender``, ``subject``, ``tag``, ``status``, ``details``,
    ``output``, ``trace`` (the ``X-Airflow-Trace`` of the send, when the provider could read it), and
    ``payload`` (Postal's whole payload). Never a key.

    :param event: a Postal event name: ``MessageSent``, ``MessageDelayed``, ``MessageDeliveryFailed``,
        ``MessageHeld``, ``MessageBounced``, ``MessageLinkClicked``, ``MessageLoaded``, ``DomainDNSError``,
        ``SendLimitApproaching`` or ``SendLimitExceeded``.
    :param conn_id: the ``sender25`` connection whose webhook URL Sender25 posts to.
    :raises ValueError: unknown event name or a connection id that cannot be part of a URL.
    :raises Airflow3Required: on Airflow 2.
    """
    require_airflow_3("sender25_event_asset")
    if event not in SENDER25_EVENTS:
        raise ValueError(f"event must be one of {', '.join(SENDER25_EVENTS)}; got {event!r}")
    _check_conn_id(conn_id)
    from airflow.sdk import Asset

    return Asset(name=f"sender25.{conn_id}.{event}", uri=f"sender25://{conn_id}/{event}", group="mail")


def xmailer_bounce_asset(
    conn_id: str = "xmailer_default",
    *,
    poll_interval: float = 300.0,
    lookback: float = 6 * 3600.0,
) -> Asset:
    """The asset that receives one event per failed (bounced) row of xmailer's report for ``conn_id``.

    It is watched by :class:`~airflow_provider_mail.triggers.xmailer_failures.XmailerFailureTrigger` in the
    triggerer: one report request every ``poll_interval`` seconds for the connection, however many DAGs
    use the asset (use the same arguments everywhere: other arguments make another watcher). Each asset
    event's ``extra["payload"]`` holds ``queue_id``, ``sender``, ``recipient``, ``delivered_at``,
    ``status_text``, ``smtp_code``, ``enhanced_code``.

    :param conn_id: the ``xmailer`` connection.
    :param poll_interval: seconds between report requests (the report refreshes every 10-15 minutes).
    :param lookback: seconds of report each request covers.
    :raises Airflow3Required: on Airflow 2.
    """
    require_airflow_3("xmailer_bounce_asset")
    _check_conn_id(conn_id)
    from airflow.sdk import Asset, AssetWatcher

    from airflow_provider_mail.triggers.xmailer_failures import XmailerFailureTrigger

    trigger = XmailerFailureTrigger(conn_id=conn_id, poll_interval=poll_interval, lookback=lookback)
    return Asset(
        name=f"xmailer.{conn_id}.failures",
        uri=f"xmailer://{conn_id}/failures",
        group="mail",
        watchers=[AssetWatcher(name=f"xmailer_failures_{conn_id}", trigger=trigger)],
    )


def mail_event_details(asset_event: Any) -> dict[str, Any]:
    """The facts of one bounce/failure event, the same keys whichever service reported it.

    Returns ``service`` (``"sender25"``/``"xmailer"``), ``event``, ``recipient``, ``sender``, ``status``,
    ``details`` (the remote server's reply when known), ``message_id`` (Sender25's id or xmailer's queue
    id), ``tag``, ``trace`` (dict naming the DAG run that sent it, or ``None``) and ``key`` (the event's
    dedupe id).

    :param asset_event: an item of ``triggering_asset_events[...]`` (or its ``extra`` dict).
    """
    extra = asset_event if isinstance(asset_event, Mapping) else getattr(asset_event, "extra", None) or {}
    payload = extra.get("payload")
    if extra.get("from_trigger") and isinstance(payload, Mapping):
        return {
            "service": "xmailer",
            "event": "Failed",
            "recipient": payload.get("recipient"),
            "sender": payload.get("sender"),
            "status": payload.get("outcome"),
            "details": payload.get("status_text"),
            "message_id": payload.get("queue_id"),
            "tag": None,
            "trace": None,
            "key": payload.get("failure_key"),
        }
    return {
        "service": "sender25",
        "event": extra.get("event"),
        "recipient": extra.get("recipient"),
        "sender": extra.get("sender"),
        "status": extra.get("status"),
        "details": extra.get("output") or extra.get("details"),
        "message_id": extra.get("message_id"),
        "tag": extra.get("tag"),
        "trace": extra.get("trace"),
        "key": extra.get("uuid"),
    }


def _check_conn_id(conn_id: str) -> None:
    if not isinstance(conn_id, str) or not _CONN_ID.match(conn_id):
        raise ValueError(f"conn_id must be letters, digits, '_', '.' or '-' (at most 200); got {conn_id!r}")


__all__ = [
    "SENDER25_EVENTS",
    "WEBHOOK_PATH",
    "Airflow3Required",
    "mail_event_details",
    "sender25_event_asset",
    "xmailer_bounce_asset",
]
