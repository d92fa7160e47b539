"""The built wheel: its contents, its entry points, that it installs, and that its dependencies are exactly
the third-party modules the package imports."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "airflow_provider_mail"
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())

#: Imported only inside ``ConnectionForm.form_widgets``, which only Airflow's own FAB UI (< 3.2) calls,
#: where Airflow ships them; the FAB imports are optional even there.
UI_ONLY = {"wtforms", "flask_appbuilder", "flask_babel"}
#: Airflow itself: the package is a provider of it.
AIRFLOW = {"airflow"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    return _canonical(re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0])


def _imports(path: Path):
    """``(top-level name, at module level?)`` of every absolute import in ``path``."""
    tree = ast.parse(path.read_text())
    module_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            yield name.split(".")[0], id(node) in module_level


def _third_party_imports(*, testing: bool) -> dict[str, set[str]]:
    """Third-party top-level names imported by the package (``testing/`` only, or everything else)."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        if (PACKAGE / "testing" in path.parents) != testing:
            continue
        for top, _ in _imports(path):
            if top in sys.stdlib_module_names or top in AIRFLOW or top == "airflow_provider_mail":
                continue
            found.setdefault(top, set()).add(str(path.relative_to(REPO_ROOT)))
    return found


def _distribution(import_name: str) -> str:
    distributions = importlib.metadata.packages_distributions().get(import_name)
    assert distributions, f"{import_name} is imported but not installed"
    return _canonical(distributions[0])


DEPENDENCIES = {_requirement_name(r) for r in PYPROJECT["project"]["dependencies"]}
TEST_EXTRA = {_requirement_name(r) for r in PYPROJECT["project"]["optional-dependencies"]["test"]}


def test_the_dependencies_are_exactly_what_the_package_imports():
    imported = {_distribution(name) for name in _third_party_imports(testing=False) if name not in UI_ONLY}
    assert imported == DEPENDENCIES - {"apache-airflow"}


def test_pendulum_is_not_a_dependency():
    """Time zones are the stdlib's ``zoneinfo``; pendulum was declared but never imported."""
    assert "pendulum" not in DEPENDENCIES
    assert "pendulum" not in _third_party_imports(testing=False)


def test_the_emulators_import_only_what_the_test_extra_declares():
    imported = {_distribution(name) for name in _third_party_imports(testing=True)}
    assert imported <= DEPENDENCIES | TEST_EXTRA, imported - DEPENDENCIES - TEST_EXTRA


def test_ui_libraries_are_imported_only_when_the_legacy_form_is_built():
    for path in PACKAGE.rglob("*.py"):
        for top, module_level in _imports(path):
            assert not (top in UI_ONLY and module_level), f"{path}: {top} at module level"


# -- the wheel -----------------------------------------------------------------------------------------


def _uv() -> list[str] | None:
    """uv as a command: on PATH, or the module the Makefile installs into the base interpreter."""
    if shutil.which("uv"):
        return [str(shutil.which("uv"))]
    base = [getattr(sys, "_base_executable", sys.executable), "-m", "uv"]
    probe = subprocess.run([*base, "--version"], capture_output=True, check=False)
    return base if probe.returncode == 0 else None


UV = _uv()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    if UV is None:
        pytest.skip("uv is not installed")
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [*UV, "build", "--wheel", "--offline", "--out-dir", str(out), str(REPO_ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (built,) = out.glob("airflow_provider_mail-*.whl")
    return built


def _dist_info(names: list[str], filename: str) -> str:
    (name,) = [n for n in names if re.fullmatch(rf"airflow_provider_mail-[^/]+\.dist-info/{filename}", n)]
    return name


def test_the_wheel_holds_the_package_and_nothing_else(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"airflow_provider_mail", _dist_info(names, "METADATA").split("/")[0]}
    packaged = {n for n in names if n.startswith("airflow_provider_mail/") and n.endswith(".py")}
    on_disk = {str(p.relative_to(REPO_ROOT)) for p in PACKAGE.rglob("*.py")}
    assert packaged == on_disk
    assert not [n for n in names if "/tests/" in n or n.startswith("tests/") or "conftest" in n]


def test_the_wheel_declares_both_entry_points_and_the_dependencies(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = archive.read(_dist_info(names, "entry_points.txt")).decode()
        metadata = archive.read(_dist_info(names, "METADATA")).decode()
    assert (
        "[apache_airflow_provider]\nprovider_info = airflow_provider_mail.get_provider_info:get_provider_info"
        in entry_points
    )
    assert "[pytest11]\nairflow_provider_mail = airflow_provider_mail.testing.pytest_plugin" in entry_points
    required = {
        _requirement_name(line.split(":", 1)[1].strip())
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    }
    assert required == DEPENDENCIES


#: Run in the bare venv: no Airflow there, so only what must work without it. ``get_provider_info`` is
#: what Airflow 3.2+ calls to draw the connection forms without importing a hook.
BARE_VENV_CHECK = """
import json
from importlib.metadata import entry_points, version

(provider,) = entry_points(group="apache_airflow_provider", name="provider_info")
info = provider.load()()
(plugin,) = entry_points(group="pytest11", name="airflow_provider_mail")
print(json.dumps({
    "version": version("airflow-provider-mail"),
    "plugin": plugin.value,
    "connection_types": [c["connection-type"] for c in info["connection-types"]],
    "package": __import__("airflow_provider_mail").__file__,
}))
"""


def test_the_wheel_installs_into_a_bare_venv_and_its_provider_entry_point_loads(wheel, tmp_path):
    venv = tmp_path / "venv"
    env = {**os.environ, "VIRTUAL_ENV": str(venv)}
    env.pop("PYTHONPATH", None)
    subprocess.run(
        [*UV, "venv", "--offline", "--python", sys.executable, str(venv)],
        check=True,
        env=env,
        capture_output=True,
    )
    python = venv / "bin" / "python"
    result = subprocess.run(
        [*UV, "pip", "install", "--offline", "--no-deps", "--python", str(python), str(wheel)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    check = subprocess.run(
        [str(python), "-c", BARE_VENV_CHECK],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert check.returncode == 0, check.stderr[-3000:]
    installed = json.loads(check.stdout)
    assert installed["connection_types"] == ["sender25", "xmailer"]
    assert installed["plugin"] == "airflow_provider_mail.testing.pytest_plugin"
    assert Path(installed["package"]).is_relative_to(venv)  # the wheel's copy, not this checkout
