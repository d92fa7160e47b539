"""pytest fixtures for the emulators (registered as the ``airflow_provider_mail`` pytest11 plugin).

* ``sender25_emulator`` — a started :class:`~airflow_provider_mail.testing.Sender25Emulator`
  with default settings, stopped after the test;
* ``sender25_airflow_conn`` — the same emulator, with ``AIRFLOW_CONN_SENDER25_DEFAULT`` pointing
  at it for the duration of the test;
* ``xmailer_emulator`` — a started :class:`~airflow_provider_mail.testing.XmailerEmulator` with
  default settings (STARTTLS relay, text report), stopped after the test;
* ``xmailer_airflow_conn`` — the same, with ``AIRFLOW_CONN_XMAILER_DEFAULT`` pointing at it.

Mark a test to build its emulator with other settings; the marker's keyword arguments go to the
emulator's constructor, e.g. round-trip latency and a rate limit::

    @pytest.mark.sender25_emulator(latency=0.05, latency_jitter=0.01, rate_limit=20)
    def test_under_load(sender25_emulator): ...

    @pytest.mark.xmailer_emulator(latency=0.05, report_format="json")
    def test_report(xmailer_emulator): ...
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

_MARKERS = {
    "sender25_emulator": "sender25_emulator(**settings): Sender25Emulator settings for the fixture",
    "xmailer_emulator": "xmailer_emulator(**settings): XmailerEmulator settings for the fixture",
}


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers that configure the fixtures."""
    for line in _MARKERS.values():
        config.addinivalue_line("markers", line)


def _settings(request: pytest.FixtureRequest, marker: str) -> dict[str, Any]:
    found = request.node.get_closest_marker(marker)
    if found is None:
        return {}
    if found.args:
        raise TypeError(f"@pytest.mark.{marker} takes keyword arguments only")
    return dict(found.kwargs)


if TYPE_CHECKING:
    from airflow_provider_mail.testing.sender25 import Sender25Emulator
    from airflow_provider_mail.testing.xmailer import XmailerEmulator


@pytest.fixture
def sender25_emulator(request: pytest.FixtureRequest) -> Iterator[Sender25Emulator]:
    """A running Sender25 emulator (``rails`` flavour, API key ``test-api-key``, From domain
    ``example.com``; ``@pytest.mark.sender25_emulator(...)`` overrides), stopped when the test
    ends."""
    # Imported here so that merely loading the plugin stays free for sessions that never use it.
    from airflow_provider_mail.testing.sender25 import Sender25Emulator

    emulator = Sender25Emulator(**_settings(request, "sender25_emulator"))
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


@pytest.fixture
def xmailer_emulator(request: pytest.FixtureRequest) -> Iterator[XmailerEmulator]:
    """A running xmailer emulator: STARTTLS relay with user ``relay@example.com`` / password
    ``smtp-secret``, text report at ``/http/report.php`` (``@pytest.mark.xmailer_emulator(...)``
    overrides); stopped when the test ends."""
    from airflow_provider_mail.testing.xmailer import XmailerEmulator

    emulator = XmailerEmulator(**_settings(request, "xmailer_emulator"))
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def xmailer_airflow_conn(
    xmailer_emulator: XmailerEmulator, monkeypatch: pytest.MonkeyPatch
) -> XmailerEmulator:
    """The running emulator, exposed to Airflow as connection ``xmailer_default``."""
    monkeypatch.setenv("AIRFLOW_CONN_XMAILER_DEFAULT", xmailer_emulator.airflow_connection())
    return xmailer_emulator
