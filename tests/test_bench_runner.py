"""`make bench` and CI's smoke run: a benchmark that crashes makes the run fail, the others still run."""

from __future__ import annotations

import sys
import types

import pytest

from bench import run


def _module(name: str, main) -> str:
    module = types.ModuleType(f"bench.{name}")
    module.main = main  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    return name


@pytest.fixture
def benchmarks(monkeypatch: pytest.MonkeyPatch):
    seen: list[tuple[str, bool]] = []

    def fine(smoke: bool = False) -> dict:
        seen.append(("fine", smoke))
        return {"ok": True}

    def crashing(smoke: bool = False) -> dict:
        seen.append(("crashing", smoke))
        raise AttributeError("'_InstantSender25' object has no attribute 'send_payload'")

    names = {"crashing": _module("_test_crashing", crashing), "fine": _module("_test_fine", fine)}
    monkeypatch.setattr(run, "machine", lambda: {})
    yield names, seen, monkeypatch
    for name in names.values():
        sys.modules.pop(f"bench.{name}", None)


def test_a_crashed_benchmark_fails_the_smoke_run_and_the_others_still_run(benchmarks, capsys) -> None:
    names, seen, monkeypatch = benchmarks
    monkeypatch.setattr(run, "BENCHMARKS", (("a", names["crashing"]), ("b", names["fine"])))

    assert run.main(["--smoke"]) == 1
    assert seen == [("crashing", True), ("fine", True)]
    assert "crashed: a" in capsys.readouterr().out


def test_a_smoke_run_where_every_benchmark_runs_succeeds(benchmarks) -> None:
    names, seen, monkeypatch = benchmarks
    monkeypatch.setattr(run, "BENCHMARKS", (("b", names["fine"]),))

    assert run.main(["--smoke"]) == 0
    assert seen == [("fine", True)]


def test_every_benchmark_module_takes_smoke() -> None:
    import importlib
    import inspect

    for _, module in run.BENCHMARKS:
        main = importlib.import_module(f"bench.{module}").main
        assert "smoke" in inspect.signature(main).parameters, module
