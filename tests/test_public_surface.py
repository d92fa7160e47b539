"""What a user reads names only public modules: the example DAGs, every code block of the docs and of the
README import nothing private of this package (a module or a name that starts with ``_``), and no text
tells a user to call something private."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "airflow_provider_mail"
EXAMPLE_DAGS = sorted((ROOT / "example_dags").glob("*.py"))
DOC_PAGES = sorted((ROOT / "docs").rglob("*.rst"))
README = ROOT / "README.md"

#: ``from X import a, b`` / ``import X`` at the start of a line of a code block (which may not parse as
#: a whole: docs elide with ``...``).
IMPORT_LINE = re.compile(
    r"^\s*(?:from\s+(?P<module>[\w.]+)\s+import\s+(?P<names>[^#]+)|import\s+(?P<plain>[^#]+))"
)
#: A dotted name of this package with a private part: ``airflow_provider_mail._ledger.purge_expired``.
PRIVATE_DOTTED = re.compile(rf"\b{PACKAGE}(?:\.\w+)*\._\w*")


def private_imports(source: str) -> list[str]:
    """Every import of a private module or name of this package in ``source`` (lines of code)."""
    found = []
    lines = source.splitlines()
    for number, line in enumerate(lines):
        match = IMPORT_LINE.match(line)
        if not match:
            continue
        if match["plain"]:
            modules = [part.split(" as ")[0].strip() for part in match["plain"].split(",")]
            found += [f"import {m}" for m in modules if _is_private_module(m)]
            continue
        module = match["module"]
        names_text = match["names"]
        if names_text.strip().startswith("("):  # a parenthesised list may go on over lines
            rest = [names_text]
            index = number
            while ")" not in rest[-1] and index + 1 < len(lines):
                index += 1
                rest.append(lines[index])
            names_text = " ".join(rest).strip("() ").split(")")[0]
        names = [n.split(" as ")[0].strip() for n in names_text.split(",") if n.strip()]
        if _is_private_module(module):
            found.append(f"from {module} import ...")
        elif module.split(".")[0] == PACKAGE:
            found += [f"from {module} import {n}" for n in names if n.startswith("_")]
    return found + PRIVATE_DOTTED.findall(source)


def _is_private_module(module: str) -> bool:
    parts = module.split(".")
    return parts[0] == PACKAGE and any(part.startswith("_") for part in parts[1:])


def rst_code_blocks(text: str) -> list[str]:
    """The bodies of the ``code-block`` / ``code`` directives and ``::`` literal blocks of a page."""
    blocks = []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if re.match(r"^\s*\.\. (code-block|code|sourcecode)::", line) or line.rstrip().endswith("::"):
            indent = len(line) - len(line.lstrip())
            body = []
            for following in lines[index + 1 :]:
                if following.strip() and len(following) - len(following.lstrip()) <= indent:
                    break
                body.append(following)
            blocks.append("\n".join(body))
    return blocks


def markdown_code_blocks(text: str) -> list[str]:
    return re.findall(r"^```[\w-]*\n(.*?)^```", text, flags=re.S | re.M)


def test_the_sources_are_found():
    assert len(EXAMPLE_DAGS) >= 9
    assert len(DOC_PAGES) >= 15
    assert markdown_code_blocks(README.read_text())


@pytest.mark.parametrize("path", EXAMPLE_DAGS, ids=lambda p: p.name)
def test_an_example_dag_imports_only_public_names(path):
    source = path.read_text()
    ast.parse(source)  # a whole file: it must parse
    assert private_imports(source) == []


@pytest.mark.parametrize("path", DOC_PAGES, ids=lambda p: str(p.relative_to(ROOT / "docs")))
def test_a_docs_page_shows_and_names_only_public_names(path):
    text = path.read_text()
    found = [hit for block in rst_code_blocks(text) for hit in private_imports(block)]
    assert found == [], f"{path.name}: {found}"
    assert PRIVATE_DOTTED.findall(text) == []


def test_the_readme_shows_and_names_only_public_names():
    text = README.read_text()
    found = [hit for block in markdown_code_blocks(text) for hit in private_imports(block)]
    assert found == []
    assert PRIVATE_DOTTED.findall(text) == []


@pytest.mark.parametrize(
    "source",
    [
        "from airflow_provider_mail._compat import dag, task",
        "from airflow_provider_mail._bulk.results import read_results",
        "import airflow_provider_mail._ledger as ledger",
        "from airflow_provider_mail.operators.bulk import _BulkSendOperator",
        "from airflow_provider_mail.hooks import (\n    sender25,\n    _base,\n)",
        'airflow_provider_mail._ledger.purge_expired("variable")',
    ],
)
def test_the_check_catches_each_form_of_private_import(source):
    assert private_imports(source)


@pytest.mark.parametrize(
    ("module", "names"),
    [
        (
            "airflow_provider_mail.xcom",
            [
                "Sender25SendResult",
                "XmailerSendResult",
                "BulkSendResult",
                "DeliveryOutcome",
                "read_bulk_results",
                "iter_bulk_results",
            ],
        ),
        ("airflow_provider_mail.attachments", ["Attachment"]),
        ("airflow_provider_mail.ledger", ["purge_expired", "ledger_record_name", "DEFAULT_RETENTION"]),
    ],
)
def test_the_public_homes_export_what_the_docs_name(module, names):
    imported = importlib.import_module(module)
    assert sorted(imported.__all__) == sorted(set(imported.__all__))
    for name in names:
        assert name in imported.__all__ and getattr(imported, name) is not None
