"""pytest fixtures for the emulators (registered as the ``airflow_provider_mail`` pytest11 plugin).

* ``sender25_emulator`` — a started :class:`~airflow_provider_mail.testing.Sender25Emulator`
  with default settings, stopped after the test;
* ``sender25_airflow_conn`` — the same emulator, with ``AIRFLOW_CONN_SENDER25_DEFAULT`` pointing
  at it for the duration of the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_provider_mail.testing.sender25 import Sender25Emulator


@pytest.fixture
def sender25_emulator() -> Iterator[Sender25Emulator]:
    """A running Sender25 emulator (``rails`` flavour, API key ``test-api-key``, From domain
    ``example.com``), stopped when the test ends."""
    # Imported here so that merely loading the plugin stays free for sessions that never use it.
    from airflow_provider_mail.testing.sender25 import Sender25Emulator

    emulator = Sender25Emulator()
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def sender25_airflow_conn(
    sender25_emulator: Sender25Emulator, monkeypatch: pytest.MonkeyPatch
) -> Sender25Emulator:
    """The running emulator, exposed to Airflow as connection ``sender25_default``."""
    monkeypatch.setenv("AIRFLOW_CONN_SENDER25_DEFAULT", sender25_emulator.airflow_connection())
    return sender25_emulator
