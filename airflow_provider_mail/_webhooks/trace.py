"""Read back the ``X-Airflow-Trace`` header a send carried (``dag_id=…; task_id=…; run_id=…; …``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_FIELDS = ("dag_id", "task_id", "run_id", "map_index", "try_number")


def parse_trace(value: str | None) -> dict[str, Any] | None:
    """The trace as a dict (``map_index``/``try_number`` as ints), or ``None`` when there is none.

    Unknown keys are dropped, so a forged header cannot smuggle other fields into an event.

    :param value: the header's value.
    """
    if not value:
        return None
    trace: dict[str, Any] = {}
    for part in value.split(";"):
        key, sep, text = part.strip().partition("=")
        if not sep or key not in _FIELDS:
            continue
        text = text.strip()
        trace[key] = int(text) if key in ("map_index", "try_number") and text.lstrip("-").isdigit() else text
    return trace or None


def trace_from_headers(headers: Mapping[str, Any]) -> dict[str, Any] | None:
    """The trace of a message from the ``headers`` expansion of ``messages/message`` (lower-case names,
    each a list of values; the last one wins, as a mail reader would see the outermost header).

    :param headers: the expansion's value.
    """
    values = headers.get("x-airflow-trace") if isinstance(headers, Mapping) else None
    if isinstance(values, list) and values:
        return parse_trace(str(values[-1]))
    return parse_trace(values) if isinstance(values, str) else None
