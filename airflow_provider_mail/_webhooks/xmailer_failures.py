"""What the xmailer failure watcher emits and remembers (no I/O).

xmailer has no webhooks: the watcher reads the report and turns every *new* failed row into one asset
event. "New" is decided by a key per row (queue id, recipient, time, status text: the report's own
identity of a line). The keys already emitted live in the watched asset's state store under
:data:`STORE_KEY`, as ``{key: forget_after}``; they are written by the provider's listener **in the same
database transaction as the asset event** (:mod:`airflow_provider_mail.webhooks._listener`). So after a
triggerer restart (or on another triggerer) the watcher knows exactly the failures whose events were
committed: an event lost with a killed triggerer is emitted again, a committed one never.

A key is kept until ``forget_after`` = the row's time + the watcher's look-back + a day: by then the row
has left every report window the watcher asks for, so it cannot come back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

#: The asset-state-store key holding ``{failure key: forget_after epoch}``.
STORE_KEY = "airflow_provider_mail.xmailer.failures.emitted"
#: Marks an event payload as the watcher's (the listener only touches these).
SOURCE = "xmailer-report"
#: How long beyond the look-back a key is kept.
_KEEP_MARGIN_SECONDS = 86400.0


def failure_key(row: Mapping[str, Any]) -> str:
    """A short stable id of one report line (the same line always gives the same key).

    :param row: the row as :meth:`ReportRow.as_dict` gives it.
    """
    identity = json.dumps(
        [row.get("queue_id"), row.get("recipient"), row.get("delivered_at"), row.get("status_text")],
        ensure_ascii=True,
    )
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


def failure_payload(row: Mapping[str, Any], *, conn_id: str, delivered_epoch: float, lookback: float) -> dict:
    """The trigger event's payload for a failed row (the asset event's ``extra["payload"]``).

    :param row: the row as :meth:`ReportRow.as_dict` gives it.
    :param conn_id: the xmailer connection.
    :param delivered_epoch: the row's time as epoch seconds.
    :param lookback: the watcher's look-back (seconds), which decides how long the key is kept.
    """
    return {
        "source": SOURCE,
        "conn_id": conn_id,
        "failure_key": failure_key(row),
        "forget_after": delivered_epoch + lookback + _KEEP_MARGIN_SECONDS,
        **{name: row.get(name) for name in _ROW_FIELDS},
    }


_ROW_FIELDS = (
    "queue_id",
    "sender",
    "recipient",
    "delivered_at",
    "status_text",
    "outcome",
    "smtp_code",
    "enhanced_code",
)


def emitted_entry(extra: Any) -> tuple[str, float] | None:
    """``(failure key, forget_after)`` when an asset event's ``extra`` is the watcher's, else ``None``.

    :param extra: the asset event's extra (``{"from_trigger": True, "payload": {...}}``).
    """
    payload = extra.get("payload") if isinstance(extra, Mapping) else None
    if not isinstance(payload, Mapping) or payload.get("source") != SOURCE:
        return None
    key, forget_after = payload.get("failure_key"), payload.get("forget_after")
    if not isinstance(key, str) or not isinstance(forget_after, (int, float)):
        return None
    return key, float(forget_after)


def remember(emitted: Mapping[str, float], key: str, forget_after: float, *, now: float) -> dict[str, float]:
    """The emitted-keys map with ``key`` added and every expired key dropped (bounded memory).

    :param emitted: the current map.
    :param key: the key just emitted.
    :param forget_after: when it may be forgotten.
    :param now: the current time (epoch seconds).
    """
    kept = {name: until for name, until in emitted.items() if until >= now}
    kept[key] = forget_after
    return kept


def read_emitted(value: Any) -> dict[str, float]:
    """The emitted-keys map from the stored value (anything unreadable counts as empty).

    :param value: what the state store holds under :data:`STORE_KEY`.
    """
    if not isinstance(value, Mapping):
        return {}
    return {str(k): float(v) for k, v in value.items() if isinstance(v, (int, float))}
