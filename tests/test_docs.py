"""The docs cannot drift: the site builds with warnings as errors, its how-to code comes from the example
DAGs (which the tests run), and the README's first DAG is an example DAG's region word for word."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
INCLUDE = re.compile(r"^\.\. literalinclude:: (?P<path>\S+)\n(?P<options>(?:   :.*\n)+)", flags=re.M)


def includes():
    for page in sorted(DOCS.rglob("*.rst")):
        for match in INCLUDE.finditer(page.read_text()):
            options = dict(re.findall(r"   :([\w-]+):\s*(.*)", match["options"]))
            yield page, (page.parent / match["path"]).resolve(), options


def region(path: Path, name: str) -> str:
    text = path.read_text()
    start, end = f"# [START {name}]\n", f"# [END {name}]"
    assert text.count(start) == 1 and text.count(end) == 1, f"{path.name}: region {name}"
    body = text.split(start)[1].split(end)[0]
    return textwrap.dedent(body.rsplit("\n", 1)[0])


def test_every_how_to_page_includes_its_code_from_an_example_dag():
    found = list(includes())
    assert len(found) >= 12
    for page, path, options in found:
        assert path.parent == ROOT / "example_dags", f"{page.name} includes {path}"
        start = options["start-after"].removeprefix("[START ").removesuffix("]")
        assert options["end-before"] == f"[END {start}]", page.name
        assert region(path, start).strip(), f"{page.name}: {start} is empty"


@pytest.mark.parametrize(
    "page",
    [
        "hooks",
        "operators/sender25",
        "operators/xmailer",
        "operators/bulk",
        "sensors/delivery",
        "notifications/sender25",
    ],
)
def test_each_how_to_page_shows_example_code(page):
    assert any(p == DOCS / f"{page}.rst" for p, _, _ in includes())


def test_the_readme_first_dag_is_the_example_region_word_for_word():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## A first DAG")[1].split("```python\n")[1].split("```")[0]
    body = block.split("def send_and_confirm():\n")[1].split("\n\n\nsend_and_confirm()")[0]
    expected = region(ROOT / "example_dags" / "example_send_and_confirm.py", "howto_sensor_sender25_delivery")
    assert textwrap.dedent(body).strip() == expected.strip()


def test_the_site_builds_with_warnings_as_errors(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-b",
            "html",
            "-W",
            "--keep-going",
            "-n",
            "-q",
            str(DOCS),
            str(tmp_path / "html"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    index = (tmp_path / "html" / "index.html").read_text()
    for page in (
        "connections/sender25",
        "operators/bulk",
        "errors",
        "exactly-once",
        "events",
        "scale",
        "api",
        "changelog",
    ):
        assert f'href="{page}.html"' in index
    config = (tmp_path / "html" / "configuration.html").read_text()
    assert "send_ledger_retention_days" in config
    # the exactly-once page is the README's section, word for word (included, not copied)
    page = _words(re.sub(r"<[^>]+>", " ", (tmp_path / "html" / "exactly-once.html").read_text()))
    section = (ROOT / "README.md").read_text().split("\n## Exactly once\n")[1].split("\n## ")[0]
    assert _words(section) in page


def _words(text: str) -> str:
    import html

    return " ".join(re.findall(r"[\w…]+", html.unescape(text).replace("\u2019", "'")))


def test_the_exactly_once_page_includes_the_readme_section():
    page = (DOCS / "exactly-once.rst").read_text()
    assert ".. readme-section:: Exactly once" in page
    assert "Airflow runs" not in page  # no second copy of the text


def _vocabulary() -> list[str]:
    """The first column of the docs' one-vocabulary table (``names.rst``)."""
    text = (DOCS / "names.rst").read_text()
    table = text.split(".. list-table::")[1].split("\nDeprecated names")[0]
    rows = re.findall(r"^   \* - (.*)$", table, flags=re.M)[1:]  # without the header row
    return [name for row in rows for name in re.findall(r"``(\w+)``", row)]


def _parameters(target) -> set[str]:
    import inspect

    if not isinstance(target, type):
        return set(inspect.signature(target).parameters)
    found: set[str] = set()
    for klass in target.__mro__:
        if "__init__" in klass.__dict__:
            found |= set(inspect.signature(klass.__init__).parameters)
    return found


def test_every_sender_takes_the_names_of_the_one_vocabulary_table():
    from airflow_provider_mail.hooks.sender25 import Sender25Hook
    from airflow_provider_mail.hooks.xmailer import XmailerSmtpHook
    from airflow_provider_mail.notifications.sender25 import Sender25Notifier
    from airflow_provider_mail.operators.bulk import Sender25BulkSendOperator, XmailerBulkSendOperator
    from airflow_provider_mail.operators.sender25 import Sender25SendEmailOperator
    from airflow_provider_mail.operators.xmailer import XmailerSendEmailOperator

    names = set(_vocabulary()) - {"sender25_conn_id", "xmailer_conn_id"}
    assert {"to", "html_body", "plain_body", "attachments", "headers", "from_email"} <= names
    for sender in (
        Sender25SendEmailOperator,
        XmailerSendEmailOperator,
        Sender25BulkSendOperator,
        XmailerBulkSendOperator,
        Sender25Notifier,
        Sender25Hook.send_message,
        XmailerSmtpHook.send_message,
    ):
        assert names <= _parameters(sender), getattr(sender, "__name__", sender)


def _templated_claims(page: str, operator: str) -> tuple[set[str], set[str]]:
    """The argument names a how-to page says are templated, and those it says are not."""
    text = " ".join((DOCS / page).read_text().split())
    section = text.split(f"{operator} ")[1] if operator else text
    claim = section.split("**Templated:**")[1].split("The exact list")[0]
    templated, _, not_templated = claim.partition("Not templated:")
    return set(re.findall(r"``(\w+)``", templated)), set(re.findall(r"``(\w+)``", not_templated))


def test_the_templated_arguments_the_docs_name_are_the_template_fields():
    from airflow_provider_mail.operators.sender25 import Sender25SendEmailOperator

    templated, not_templated = _templated_claims("operators/sender25.rst", "")
    fields = set(Sender25SendEmailOperator.template_fields)
    assert templated == fields
    assert not_templated and not (not_templated & fields)
    assert not_templated <= _parameters(Sender25SendEmailOperator)
