"""The provider's Airflow listener: remembers each xmailer failure event in the same transaction as the event.

Airflow records a watcher's event with ``Trigger.submit_event`` → ``register_asset_change`` inside one
session, and calls ``on_asset_event_emitted`` synchronously in between, in the same thread. The session is
Airflow's thread-scoped ``settings.Session``, so ``settings.Session()`` here is that very session: the key
written below commits, or rolls back, with the asset event. That is what makes the xmailer watcher's
"exactly once" hold across a triggerer killed at any instant (see
:mod:`airflow_provider_mail._webhooks.xmailer_failures`). Events that are not the watcher's are ignored.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

from airflow.listeners import hookimpl

from airflow_provider_mail._webhooks.xmailer_failures import STORE_KEY, emitted_entry, read_emitted, remember


@hookimpl
def on_asset_event_emitted(asset_event: Any) -> None:
    """Add the event's failure key to its asset's emitted-keys map (xmailer watcher events only).

    :param asset_event: Airflow's listener view of the event (``asset``, ``extra``).
    """
    entry = emitted_entry(getattr(asset_event, "extra", None))
    if entry is None:
        return
    from airflow import settings
    from airflow.models.asset import AssetModel
    from airflow.models.asset_state_store import AssetStateStoreModel
    from sqlalchemy import select

    asset = asset_event.asset
    session = settings.Session()  # type: ignore[misc]  # the scoped session of the running submit_event
    asset_id = session.scalar(
        select(AssetModel.id).where(AssetModel.name == asset.name, AssetModel.uri == asset.uri)
    )
    if asset_id is None:
        return
    row = session.get(AssetStateStoreModel, (asset_id, STORE_KEY))
    current = read_emitted(json.loads(row.value)) if row is not None else {}
    value = json.dumps(remember(current, entry[0], entry[1], now=time.time()))
    if row is None:
        session.add(AssetStateStoreModel(asset_id=asset_id, key=STORE_KEY, value=value))
    else:
        row.value = value
        row.updated_at = datetime.now(timezone.utc)
    session.flush()
