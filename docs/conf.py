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
