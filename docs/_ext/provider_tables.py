"""Tables generated from the code, so the docs cannot drift from it.

* ``.. connection-extras:: sender25``: the extras of a connection type, from the one form declaration
  the hooks and ``get_provider_info`` also use (:mod:`airflow_provider_mail._shared.fields`);
  ``:prefix: webhook_`` keeps only the extras whose name starts with it.
* ``.. provider-config::``: the ``[mail_provider]`` options with their description, type, default and
  example, from ``get_provider_info()["config"]`` (what ``airflow config list`` shows).
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from docutils.statemachine import StringList


def _list_table(header: list[str], rows: list[list[str]], widths: str) -> list[str]:
    lines = [".. list-table::", "   :header-rows: 1", f"   :widths: {widths}", ""]
    for row in [header, *rows]:
        for index, cell in enumerate(row):
            lines.append(("   * - " if index == 0 else "     - ") + (cell or "\\-"))
    return lines


def _literal(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return f"``{str(value).lower()}``"
    return f"``{value}``"


class _Generated(Directive):
    def render(self, lines: list[str]) -> list[nodes.Node]:
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source="<generated>"), self.content_offset, container)
        return container.children


class ConnectionExtras(_Generated):
    required_arguments = 1
    option_spec = {"prefix": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        from airflow_provider_mail._shared.fields import CONNECTION_FORMS

        form = CONNECTION_FORMS[self.arguments[0]]
        rows = []
        prefix = self.options.get("prefix", "")
        for extra in form.extras:
            if not extra.name.startswith(prefix):
                continue
            choices = f" One of {', '.join(_literal(c) for c in extra.choices)}." if extra.choices else ""
            example = f" Example: ``{extra.placeholder}``." if extra.placeholder else ""
            rows.append(
                [
                    f"``{extra.name}``",
                    f"{extra.label}: {extra.description}{choices}{example}",
                    _literal(extra.default),
                ]
            )
        return self.render(_list_table(["Extra", "Meaning", "Default"], rows, "20 60 20"))


class ProviderConfig(_Generated):
    def run(self) -> list[nodes.Node]:
        from airflow_provider_mail.get_provider_info import get_provider_info

        lines: list[str] = []
        for section, spec in get_provider_info()["config"].items():
            lines += [f"``[{section}]``: {spec['description']}", ""]
            rows = [
                [
                    f"``{name}``",
                    option["description"],
                    option["type"],
                    _literal(option["default"]),
                    _literal(option.get("example")),
                ]
                for name, option in spec["options"].items()
            ]
            lines += _list_table(["Option", "Meaning", "Type", "Default", "Example"], rows, "18 47 9 13 13")
            lines.append("")
        return self.render(lines)


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("connection-extras", ConnectionExtras)
    app.add_directive("provider-config", ProviderConfig)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
