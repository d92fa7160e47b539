"""Operator tests call execute() with a hand-made context: no Airflow task runs, so no Variable or
task state store is reachable. Their send ledger is a directory of this test (``file://``)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def ledger_dir(tmp_path, monkeypatch):
    """Point ``[mail_provider] send_ledger`` at a fresh local directory; return it."""
    directory = tmp_path / "ledger"
    monkeypatch.setenv("AIRFLOW__MAIL_PROVIDER__SEND_LEDGER", directory.as_uri())
    return directory
