"""The layout is the architecture: arrows point one way, and the pytest plugin costs a user nothing.

Checked statically (the import statements of each module), so a new module cannot slip past.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "airflow_provider_mail"
PURE_CORES = ("_sender25", "_xmailer", "_shared", "_transport", "_webhooks")
UPPER_LAYERS = ("hooks", "operators", "sensors", "triggers", "notifications", "utils", "_delivery")


def imported_modules(path: Path) -> set[str]:
    """Every absolute module name a file imports (relative imports resolved inside the package)."""
    names: set[str] = set()
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base]) if base else ".".join(parent)
            names.add(base)
    return names


def modules_under(*packages: str) -> list[Path]:
    return sorted(p for name in packages for p in (PACKAGE / name).rglob("*.py"))


@pytest.mark.parametrize("path", modules_under(*PURE_CORES), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_pure_cores_import_no_upper_layer_and_no_airflow(path):
    for name in imported_modules(path):
        assert not name.startswith(tuple(f"airflow_provider_mail.{layer}" for layer in UPPER_LAYERS)), name
        assert name.split(".")[0] != "airflow", f"{path.name} imports {name}: only _compat may"


@pytest.mark.parametrize(
    "path", modules_under("_delivery", "hooks"), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_arrows_point_down(path):
    """Hooks never import operators, sensors or triggers; the gate's policy imports no hook."""
    forbidden = ["operators", "sensors", "triggers", "notifications"]
    if path.parent.name == "_delivery" and path.stem != "checks":
        forbidden.append("hooks")
    for name in imported_modules(path):
        assert not name.startswith(tuple(f"airflow_provider_mail.{layer}" for layer in forbidden)), name


def test_only_compat_branches_on_the_airflow_version():
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "_compat.py" and "AIRFLOW_V_" in path.read_text()
    ]
    assert offenders == []


@pytest.mark.parametrize("path", modules_under("testing"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_emulators_never_import_the_client(path):
    for name in imported_modules(path):
        if name.startswith("airflow_provider_mail"):
            assert name.startswith("airflow_provider_mail.testing"), f"{path.name} imports {name}"


def test_the_pytest_plugin_adds_no_heavy_import():
    """A project that never uses the fixtures pays for three tiny modules, not Airflow or an emulator."""
    code = (
        "import sys, pytest; before = set(sys.modules); "
        "import airflow_provider_mail.testing.pytest_plugin; "
        "print(sorted(set(sys.modules) - before))"
    )
    added = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert eval(added) == [
        "airflow_provider_mail",
        "airflow_provider_mail.testing",
        "airflow_provider_mail.testing.pytest_plugin",
    ]
