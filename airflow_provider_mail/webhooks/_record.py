"""Record one verified webhook in the metadata database: the asset event (which also queues the DAG runs
scheduled on it) and the webhook's ``uuid``, in **one** transaction.

The ``uuid`` goes into the asset state store (Airflow 3.3's ``asset_state_store`` table, keyed by asset id
and key) as a plain INSERT: a second api-server recording the same ``uuid`` at the same moment hits the
primary key and rolls back, so one ``uuid`` is one asset event across restarts and any number of
api-servers. Keys are kept twice the connection's timestamp window, then pruned: a replay older than the
window is refused as stale before it gets here.

When no DAG has declared the asset yet, the receiver creates its row, so the event is not lost; a DAG that
declares it later finds it.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

#: Prefix of the state-store keys holding seen webhook uuids.
UUID_KEY_PREFIX = "airflow_provider_mail.sender25.webhook.uuid:"


def record_webhook_event(
    *, name: str, uri: str, extra: dict[str, Any], uuid: str, timestamp: float, keep_seconds: float
) -> bool:
    """Commit the asset event and the ``uuid``; return ``False`` (and record nothing) for a seen ``uuid``.

    :param name: the asset's name.
    :param uri: the asset's URI.
    :param extra: the asset event's extra.
    :param uuid: Postal's request uuid.
    :param timestamp: the envelope's timestamp (stored with the uuid).
    :param keep_seconds: how long seen uuids are kept.
    :raises Exception: anything the database raises; nothing is committed then.
    """
    from airflow.utils.session import create_session
    from sqlalchemy.exc import IntegrityError

    try:
        with create_session(scoped=False) as session:
            return _record(session, name, uri, extra, uuid, timestamp, keep_seconds)
    except IntegrityError:
        # Someone committed the same uuid (or created the asset) between our read and our commit.
        with create_session(scoped=False) as session:
            if _seen(session, name, uri, uuid):
                return False
        raise


def webhook_seen(*, name: str, uri: str, uuid: str) -> bool:
    """Whether the ``uuid`` was already recorded for this asset (a read, nothing written).

    :param name: the asset's name.
    :param uri: the asset's URI.
    :param uuid: Postal's request uuid.
    """
    from airflow.utils.session import create_session

    with create_session(scoped=False) as session:
        return _seen(session, name, uri, uuid)


def _record(
    session: Any, name: str, uri: str, extra: dict, uuid: str, timestamp: float, keep_seconds: float
) -> bool:
    from airflow.assets.manager import asset_manager
    from airflow.models.asset import AssetModel
    from airflow.models.asset_state_store import AssetStateStoreModel
    from sqlalchemy import delete, select

    asset = session.scalar(select(AssetModel).where(AssetModel.name == name, AssetModel.uri == uri))
    if asset is None:
        asset = AssetModel(name=name, uri=uri, group="mail")
        session.add(asset)
        session.flush()
    key = UUID_KEY_PREFIX + uuid
    if session.get(AssetStateStoreModel, (asset.id, key)) is not None:
        return False
    session.add(AssetStateStoreModel(asset_id=asset.id, key=key, value=json.dumps(timestamp)))
    session.flush()
    asset_manager.register_asset_change(asset=asset, extra=extra, session=session)
    cutoff = datetime.now(timezone.utc) - timedelta(seconds=keep_seconds)
    session.execute(
        delete(AssetStateStoreModel)
        .where(
            AssetStateStoreModel.asset_id == asset.id,
            AssetStateStoreModel.key.startswith(UUID_KEY_PREFIX),
            AssetStateStoreModel.updated_at < cutoff,
        )
        .execution_options(synchronize_session=False)
    )
    return True


def _seen(session: Any, name: str, uri: str, uuid: str) -> bool:
    from airflow.models.asset import AssetModel
    from airflow.models.asset_state_store import AssetStateStoreModel
    from sqlalchemy import select

    asset_id = session.scalar(select(AssetModel.id).where(AssetModel.name == name, AssetModel.uri == uri))
    return (
        asset_id is not None
        and session.get(AssetStateStoreModel, (asset_id, UUID_KEY_PREFIX + uuid)) is not None
    )
