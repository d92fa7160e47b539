"""``.. readme-section:: Exactly once``: a section of the README, read at build time and turned into reST.

The README is the reference text of a few sections (the exactly-once promise must be stated in full
where a user lands first); the docs page includes it instead of a copy that could drift. Only the
Markdown those sections use is understood: paragraphs, ``-`` lists, one pipe table, ``**bold**``,
```code``` and ``[text](url)`` links. Anything else reaches reST as is, and ``make docs`` (warnings as
errors) fails on what reST cannot read.
"""

from __future__ import annotations

import re
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList

README = Path(__file__).resolve().parents[2] / "README.md"
CODE = re.compile(r"`([^`]+)`")
LINK = re.compile(r"\[([^\]]+)\]\(([^)]+)\)")


def section(title: str, readme: Path = README) -> list[str]:
    """The lines of the README section ``## <title>``, up to the next heading of its level or higher.

    :param title: the heading text, without ``## ``.
    :param readme: the Markdown file.
    """
    lines = readme.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"## {title}") + 1
    end = next((i for i in range(start, len(lines)) if re.match(r"#{1,2} ", lines[i])), len(lines))
    return lines[start:end]


def _inline(text: str) -> str:
    def code(match: re.Match[str]) -> str:
        before = text[match.start() - 1] if match.start() else " "
        after = text[match.end()] if match.end() < len(text) else " "
        # reST needs inline markup to stand apart from word characters: an escaped space joins them
        return ("\\ " if before.isalnum() else "") + f"``{match[1]}``" + ("\\ " if after.isalnum() else "")

    text = LINK.sub(lambda m: f"`{m[1]} <{m[2]}>`__", text)
    return CODE.sub(code, text)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def to_rest(markdown: list[str]) -> list[str]:
    """reST for the Markdown subset the README's reference sections use.

    :param markdown: the section's lines.
    """
    out: list[str] = []
    index = 0
    while index < len(markdown):
        line = markdown[index]
        if line.startswith("|"):
            rows = []
            while index < len(markdown) and markdown[index].startswith("|"):
                if not re.fullmatch(r"\|[-:| ]+\|", markdown[index].strip()):
                    rows.append(_cells(markdown[index]))
                index += 1
            out += [".. list-table::", "   :header-rows: 1", ""]
            for row in rows:
                out += [("   * - " if n == 0 else "     - ") + _inline(cell) for n, cell in enumerate(row)]
            out.append("")
            continue
        out.append(_inline(line))
        index += 1
    return out


class ReadmeSection(Directive):
    """The README section named by the argument, as reST."""

    required_arguments = 1
    final_argument_whitespace = True

    def run(self) -> list[nodes.Node]:
        self.state.document.settings.env.note_dependency(str(README))
        container = nodes.container()
        lines = to_rest(section(self.arguments[0]))
        self.state.nested_parse(StringList(lines, source=str(README)), self.content_offset, container)
        return container.children


def setup(app) -> dict[str, bool]:
    app.add_directive("readme-section", ReadmeSection)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
