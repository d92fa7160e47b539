"""Sphinx configuration of the airflow-provider-mail documentation (``make docs``).

Only Sphinx and its bundled parts (autodoc, the alabaster theme): the site builds offline, and
``make docs`` treats every warning as an error (``-W --keep-going -n``). The code on the how-to pages
is included from ``example_dags/`` (``# [START howto_...]`` regions), which the tests run.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE / "_ext"))

from airflow_provider_mail import __version__  # noqa: E402 - after the path is set

project = "airflow-provider-mail"
author = "airflow-provider-mail contributors"
copyright = "the airflow-provider-mail contributors"
release = version = __version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.viewcode", "provider_tables", "readme_section"]
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path: list[str] = []
html_title = f"airflow-provider-mail {release}"
templates_path: list[str] = []

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_default_options = {"members": True, "show-inheritance": True}
autoclass_content = "class"

#: nitpicky: a reference that names this package's public API must resolve. Left out: types of other
#: projects (there is no intersphinx without a network), internal names (a ``_`` module or name), and
#: the unqualified names docstrings use for types imported only for type checking.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(?!airflow_provider_mail\.).*"),  # other projects', and unqualified names
    (r"py:.*", r"(?s).*\._.*"),  # internal modules and names
    # internal types named in public signatures: the bulk operators' rows, the emulators' records
    (r"py:.*", r"airflow_provider_mail\.operators\.bulk\.PreparedRow"),
    (r"py:.*", r"airflow_provider_mail\.testing\.(sender25|xmailer)\.\w+\.\w+"),
]

#: Pages written by other work that may not be there yet: listed in the index's "More" toctree when
#: present, left out (without a warning) when not.
OPTIONAL_PAGES = ("events", "scale")


def _optional_pages(app, docname: str, source: list[str]) -> None:
    if docname != "index":
        return
    present = "".join(f"   {name}\n" for name in OPTIONAL_PAGES if (HERE / f"{name}.rst").exists())
    source[0] = source[0].replace("   .. optional pages\n", present)


def _reread_index(app, env, added, changed, removed) -> list[str]:
    # The index's toctree depends on which optional pages exist, which Sphinx does not track.
    return ["index"]


def setup(app) -> None:
    app.connect("source-read", _optional_pages)
    app.connect("env-get-outdated", _reread_index)
