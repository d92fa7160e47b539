"""Fixtures for the emulator's own wire-level tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Any

import pytest

from airflow_provider_mail.testing import Sender25Emulator, XmailerEmulator

_PLUGIN = "airflow_provider_mail.testing.pytest_plugin"

# An installed package registers the plugin through its pytest11 entry point, and pytest refuses
# to register the same module twice; only a bare checkout needs it named here.
if not any(entry.value == _PLUGIN for entry in entry_points(group="pytest11")):
    pytest_plugins = [_PLUGIN]


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., Sender25Emulator]]:
    """Start emulators with non-default settings; all are stopped after the test."""
    started: list[Sender25Emulator] = []

    def start(**settings: Any) -> Sender25Emulator:
        emulator = Sender25Emulator(**settings).start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


@pytest.fixture
def make_xmailer() -> Iterator[Callable[..., XmailerEmulator]]:
    """Start xmailer emulators with non-default settings; all are stopped after the test."""
    started: list[XmailerEmulator] = []

    def start(**settings: Any) -> XmailerEmulator:
        emulator = XmailerEmulator(**settings).start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()
