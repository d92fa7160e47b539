"""The only module that knows Airflow 2 from Airflow 3.

Every import whose location moved between Airflow 2.11 and 3.x is resolved here once; the rest of
the package imports these names from this module and never branches on the Airflow version itself.
"""

from __future__ import annotations

import importlib
import re
from typing import TYPE_CHECKING, Any

from airflow import __version__ as _airflow_version


def _version_tuple(version: str) -> tuple[int, ...]:
    # Not packaging.version: it would add to every import of this provider, for three comparisons.
    return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0])[:3])


AIRFLOW_VERSION = _version_tuple(_airflow_version)
AIRFLOW_V_3_0_PLUS = AIRFLOW_VERSION >= (3, 0, 0)
AIRFLOW_V_3_1_PLUS = AIRFLOW_VERSION >= (3, 1, 0)
AIRFLOW_V_3_2_PLUS = AIRFLOW_VERSION >= (3, 2, 0)

if AIRFLOW_V_3_0_PLUS:
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )
else:
    from airflow.exceptions import (  # type: ignore[no-redef,assignment]
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )

#: Names imported on first use (PEP 562): the hook and operator bases, decorators, object storage and
#: sensor bases pull in hundreds of modules (the ORM models on 3.x) that the pure cores, the error tree
#: and the emulators never need. ``name: (Airflow 3 module, Airflow 2 module)``.
_LAZY = {
    "BaseHook": ("airflow.sdk" if AIRFLOW_V_3_1_PLUS else "airflow.hooks.base", "airflow.hooks.base"),
    "BaseOperator": ("airflow.sdk", "airflow.models.baseoperator"),
    "dag": ("airflow.sdk", "airflow.decorators"),
    "task": ("airflow.sdk", "airflow.decorators"),
    "DAG": ("airflow.sdk", "airflow.models.dag"),
    "ObjectStoragePath": ("airflow.sdk", "airflow.io.path"),
    "BaseNotifier": ("airflow.sdk", "airflow.notifications.basenotifier"),
    "BaseSensorOperator": ("airflow.sdk", "airflow.sensors.base"),
    "PokeReturnValue": ("airflow.sdk", "airflow.sensors.base"),
    # Airflow 2 has no event triggers: a BaseEventTrigger subclass still imports there, as a plain trigger.
    "BaseEventTrigger": ("airflow.triggers.base", "airflow.triggers.base"),
}
#: Names that Airflow 2 spells differently (``name: Airflow 2 attribute``).
_AIRFLOW_2_NAMES = {"BaseEventTrigger": "BaseTrigger"}

if TYPE_CHECKING:
    from airflow.sdk import (
        DAG,
        BaseHook,
        BaseNotifier,
        BaseOperator,
        BaseSensorOperator,
        ObjectStoragePath,
        PokeReturnValue,
        dag,
        task,
    )


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = _LAZY[name][0 if AIRFLOW_V_3_0_PLUS else 1]
    attribute = name if AIRFLOW_V_3_0_PLUS else _AIRFLOW_2_NAMES.get(name, name)
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from airflow.sdk import Connection, Context  # noqa: F401 - re-exported for type hints
    from airflow.triggers.base import BaseEventTrigger


class Airflow3Required(ImportError):
    """A feature of this provider that exists only on Airflow 3 was used on Airflow 2."""


def require_airflow_3(feature: str) -> None:
    """Fail clearly when an Airflow-3-only feature (assets, event triggers, api-server plugins) runs on 2.x.

    :param feature: what was used, named in the error.
    :raises Airflow3Required: on Airflow 2.
    """
    if not AIRFLOW_V_3_0_PLUS:
        raise Airflow3Required(
            f"{feature} needs Airflow 3 (asset events and event-driven scheduling); this is Airflow "
            f"{_airflow_version}. On Airflow 2 poll delivery with the delivery sensors instead."
        )


def airflow_3_plugin_parts(build: Any) -> dict[str, Any]:
    """What the provider's Airflow plugin contributes: ``build()`` on Airflow 3, nothing on Airflow 2.

    Airflow 2 loads the same ``airflow.plugins`` entry point; the plugin must load there and do nothing.

    :param build: returns the plugin's attributes (``fastapi_apps``, ``listeners``).
    """
    return build() if AIRFLOW_V_3_0_PLUS else {}


def mask_secret(secret: str) -> None:
    """Register a value with Airflow's secrets masker so it is redacted from task logs.

    :param secret: the value to hide; empty values are ignored.
    """
    if not secret:
        return
    try:
        from airflow.sdk.log import mask_secret as _mask
    except ImportError:
        try:
            from airflow.sdk.execution_time.secrets_masker import mask_secret as _mask  # type: ignore[no-redef]
        except ImportError:
            from airflow.utils.log.secrets_masker import mask_secret as _mask  # type: ignore[no-redef]
    _mask(secret)


async def get_async_connection(conn_id: str) -> Connection:
    """Fetch a connection without blocking the event loop (triggers run in the triggerer's loop).

    :param conn_id: the Airflow connection id.
    """
    if hasattr(BaseHook, "aget_connection"):
        return await BaseHook.aget_connection(conn_id)
    from asgiref.sync import sync_to_async

    return await sync_to_async(BaseHook.get_connection)(conn_id)


def default_deferrable() -> bool:
    """``[operators] default_deferrable`` from Airflow's configuration (``False`` when unset)."""
    from airflow.configuration import conf

    return conf.getboolean("operators", "default_deferrable", fallback=False)


def get_dagbag_class() -> type:
    """Return Airflow's ``DagBag`` class (it moved to ``airflow.dag_processing`` in Airflow 3)."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined]
    return DagBag


def airflow_email_from_address() -> str | None:
    """Return ``[email] from_email`` from Airflow's configuration, or ``None`` when unset."""
    from airflow.configuration import conf

    return conf.get("email", "from_email", fallback=None) or None


def get_variable(key: str) -> str | None:
    """Read an Airflow Variable as text, or ``None`` when it does not exist.

    Airflow 3 reads through the Task SDK (inside a running task), Airflow 2 through the ORM.

    :param key: the Variable key.
    """
    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk import Variable

        return Variable.get(key, default=None)
    from airflow.models import Variable as OrmVariable

    return OrmVariable.get(key, default_var=None)


def set_variable(key: str, value: str, description: str) -> None:
    """Create or overwrite an Airflow Variable.

    :param key: the Variable key.
    :param value: the text to store.
    :param description: shown next to the Variable in the UI.
    """
    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk import Variable

        Variable.set(key, value, description=description)
    else:
        from airflow.models import Variable as OrmVariable

        OrmVariable.set(key, value, description=description)


def delete_variable(key: str) -> None:
    """Delete an Airflow Variable (no error when it does not exist).

    :param key: the Variable key.
    """
    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk import Variable

        Variable.delete(key)
    else:
        from airflow.models import Variable as OrmVariable

        OrmVariable.delete(key)


def variable_keys(prefix: str) -> list[str]:
    """List the keys of the Variables stored in the metadata database that start with ``prefix``.

    :param prefix: the key prefix.
    """
    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk import Variable

        return list(Variable.keys(prefix=prefix))
    from airflow.models import Variable as OrmVariable
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(OrmVariable.key).filter(OrmVariable.key.startswith(prefix)).all()
    return [row[0] for row in rows]


def get_xcom(*, dag_id: str, run_id: str, task_id: str, map_index: int, key: str) -> Any:
    """Read one XCom value of any task instance of a run, ``None`` when there is none.

    Works in a running task and in a trigger: Airflow 3 asks through the Task SDK (the task's or the
    triggerer's supervisor), Airflow 2 reads the metadata database. Blocking: a trigger calls it in a
    thread (the triggerer's comms bridge a worker thread back to its loop).

    :param dag_id: the DAG.
    :param run_id: the DAG run.
    :param task_id: the task that pushed it.
    :param map_index: its map index (``-1`` when not mapped).
    :param key: the XCom key.
    """
    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk.execution_time.xcom import XCom

        return XCom.get_one(key=key, dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index)
    from airflow.models.xcom import XCom as OrmXCom

    return OrmXCom.get_one(key=key, dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index)


def set_xcom(*, dag_id: str, run_id: str, task_id: str, map_index: int, key: str, value: Any) -> None:
    """Write one XCom value of a task instance of a run (the delivery trigger writes its outcome pages).

    Works in a running task and in a trigger, as :func:`get_xcom` does. Blocking: a trigger calls it in
    a thread.

    :param dag_id: the DAG.
    :param run_id: the DAG run.
    :param task_id: the task instance that owns it.
    :param map_index: its map index (``-1`` when not mapped).
    :param key: the XCom key.
    :param value: a JSON-compatible value.
    """
    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk.execution_time.xcom import XCom

        XCom.set(key, value, dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index)
        return
    from airflow.models.xcom import XCom as OrmXCom

    OrmXCom.set(key=key, value=value, task_id=task_id, dag_id=dag_id, run_id=run_id, map_index=map_index)


def base_notifier_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments ``BaseNotifier.__init__`` accepts on this Airflow (``context=`` since 3.1).

    Before 3.1 it takes none, so they are dropped, as the official notifiers do.

    :param kwargs: what the notifier's caller passed on.
    """
    return kwargs if AIRFLOW_V_3_1_PLUS else {}


def mapped_instance_count(context: Any) -> int | None:
    """How many instances the running task was expanded into (``None`` when it is not mapped).

    Airflow 3 asks the API server through the task instance; Airflow 2 has it in the context.

    :param context: the task context.
    """
    ti = context.get("ti")
    if getattr(ti, "map_index", -1) in (None, -1):
        return None
    if AIRFLOW_V_3_0_PLUS:
        return int(ti.get_ti_count(dag_id=ti.dag_id, task_ids=[ti.task_id], run_ids=[ti.run_id]))
    count = context.get("expanded_ti_count")
    return int(count) if count else None


def provider_info_schema_path() -> str:
    """Return the path of the installed Airflow's ``provider_info.schema.json`` (used by tests)."""
    import os

    import airflow

    return os.path.join(os.path.dirname(airflow.__file__), "provider_info.schema.json")


__all__: list[Any] = [
    "AIRFLOW_V_3_0_PLUS",
    "AIRFLOW_V_3_1_PLUS",
    "AIRFLOW_V_3_2_PLUS",
    "DAG",
    "Airflow3Required",
    "AirflowException",
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "BaseEventTrigger",
    "BaseHook",
    "BaseNotifier",
    "BaseOperator",
    "BaseSensorOperator",
    "ObjectStoragePath",
    "PokeReturnValue",
    "TaskDeferred",
    "airflow_3_plugin_parts",
    "airflow_email_from_address",
    "base_notifier_kwargs",
    "dag",
    "default_deferrable",
    "delete_variable",
    "get_async_connection",
    "get_dagbag_class",
    "get_variable",
    "get_xcom",
    "mapped_instance_count",
    "mask_secret",
    "provider_info_schema_path",
    "require_airflow_3",
    "set_variable",
    "set_xcom",
    "task",
    "variable_keys",
]
