"""The README names every module: each public module in its top table, each package and each internal
(layer) module in its "Layout" tree. A module added without a word in the README fails here."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "airflow_provider_mail"
README = (ROOT / "README.md").read_text()
#: the emulators' own modules are described as a whole ("testing/: emulators: sender25/, xmailer/")
EMULATOR_PARTS = ("testing/sender25/", "testing/xmailer/", "testing/_")


def modules() -> list[Path]:
    return sorted(
        path.relative_to(PACKAGE)
        for path in PACKAGE.rglob("*.py")
        if "__pycache__" not in path.parts and not str(path.relative_to(PACKAGE)).startswith(EMULATOR_PARTS)
    )


def is_public(path: Path) -> bool:
    return not any(part.startswith("_") for part in path.with_suffix("").parts)


def table() -> str:
    return README.split("| What | Where (public modules) |")[1].split("\n\n")[0]


def layout() -> str:
    return README.split("### Layout")[1].split("```")[1]


def test_every_public_module_is_in_the_top_table():
    named = table()
    missing = []
    for path in modules():
        if not is_public(path) or path.name == "__main__.py" or path == Path("__init__.py"):
            continue
        if path.name == "__init__.py":
            if len((PACKAGE / path).read_text().splitlines()) <= 1:
                continue  # a bare package (one import line): its modules are the public ones
            path = path.parent
        dotted = "airflow_provider_mail." + ".".join(path.with_suffix("").parts)
        if f"`{dotted}`" not in named:
            missing.append(dotted)
    assert not missing, f"not in the README's top table: {missing}"


def test_every_package_and_layer_module_is_in_the_layout():
    tree = layout()
    missing = []
    for path in modules():
        if path.parent != Path(".") and f"{path.parts[0]}/" not in tree:
            missing.append(f"{path.parts[0]}/")
        if path.name == "__init__.py" or path.parent.name == "testing":
            continue
        if not is_public(path) and path.name not in tree:
            missing.append(str(path))
    assert not missing, f"not in the README's Layout: {sorted(set(missing))}"
