"""Per-row rendering with the task's own Jinja environment: the DAG's filters, macros and search path.

A bulk operator's per-row fields (subject, bodies, recipients, headers, attachments) are *not*
Airflow template fields: Airflow would render them once, before ``execute``, without the row. They
are compiled once here and rendered for each row with the task context plus ``row``, the same way
Airflow renders a template field (a shared context, no copy of the task context per row).
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping
from typing import Any

import jinja2

#: Per-row strings ending like this are template files found on the DAG's template search path.
TEMPLATE_FILE_SUFFIXES = (".html", ".txt", ".j2", ".jinja", ".jinja2")


class RowTemplate:
    """One per-row value: a template string, a template file, a list/dict of them, or a plain value.

    :param env: the task's Jinja environment (``task.get_template_env()``).
    :param value: the operator argument as given.
    :param name: the argument's name, for errors.
    :param files: whether a string ending in :data:`TEMPLATE_FILE_SUFFIXES` is a template file
        (bodies) or a value (attachment paths).
    """

    def __init__(self, env: jinja2.Environment, value: Any, *, name: str, files: bool = False) -> None:
        self.name = name
        self.compiled = _compile(env, value, files)

    def render(self, context: Mapping[str, Any], row: Mapping[str, Any]) -> Any:
        """The value for one row.

        :param context: the task context.
        :param row: the row (``row`` in templates).
        """
        return _render(self.compiled, {"row": row}, context)


def _compile(env: jinja2.Environment, value: Any, files: bool) -> Any:
    if isinstance(value, str):
        if files and value.endswith(TEMPLATE_FILE_SUFFIXES):
            return env.get_template(value)
        return env.from_string(value) if ("{{" in value or "{%" in value) else value
    if isinstance(value, (list, tuple)):
        return [_compile(env, item, files) for item in value]
    if isinstance(value, Mapping):
        return {key: _compile(env, item, files) for key, item in value.items()}
    return value


def _render(compiled: Any, row: dict[str, Any], context: Mapping[str, Any]) -> Any:
    if isinstance(compiled, jinja2.Template):
        # as Airflow renders a template field: a context sharing the mapping, no copy per row
        # (shared=True leaves out the environment's globals, so they are chained in last)
        scope = ChainMap(row, context, compiled.globals)  # type: ignore[arg-type]
        jinja_context = compiled.new_context(scope, shared=True)  # type: ignore[arg-type]
        return compiled.environment.concat(  # type: ignore[attr-defined]
            compiled.root_render_func(jinja_context)
        )
    if isinstance(compiled, list):
        return [_render(item, row, context) for item in compiled]
    if isinstance(compiled, dict):
        return {key: _render(item, row, context) for key, item in compiled.items()}
    return compiled
