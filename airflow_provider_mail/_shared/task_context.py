"""What an operator needs from the task: the sender to use and a header that traces the task instance."""

from __future__ import annotations

from typing import Any

from airflow_provider_mail._compat import airflow_email_from_address
from airflow_provider_mail.exceptions import MailConfigurationError

TRACE_HEADER = "X-Airflow-Trace"


def resolve_from_email(argument: str | None, connection_default: str | None) -> str:
    """Pick the sender: the task argument, else the connection's ``from_email``, else ``[email] from_email``.

    :param argument: the ``from_email`` given to the task.
    :param connection_default: the connection extra ``from_email``.
    """
    for candidate in (argument, connection_default, airflow_email_from_address()):
        if candidate and str(candidate).strip():
            return str(candidate).strip()
    raise MailConfigurationError(
        "No sender address: pass from_email= to the task, set the extra 'from_email' on the connection, "
        "or set [email] from_email in Airflow's configuration"
    )


def trace_header_value(context: Any) -> str:
    """Identify the task instance (dag, task, run, map index, try) so a duplicate can always be traced.

    :param context: the Airflow task context (missing keys are tolerated).
    """
    ti = _get(context, "ti") or _get(context, "task_instance")
    parts = {
        "dag_id": getattr(ti, "dag_id", None) or getattr(_get(context, "dag"), "dag_id", None),
        "task_id": getattr(ti, "task_id", None),
        "run_id": getattr(ti, "run_id", None) or _get(context, "run_id"),
        "map_index": getattr(ti, "map_index", None),
        "try_number": getattr(ti, "try_number", None),
    }
    return "; ".join(f"{key}={_one_line(value)}" for key, value in parts.items() if value is not None)


def _get(context: Any, key: str) -> Any:
    try:
        return context.get(key)
    except Exception:
        return None


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())
