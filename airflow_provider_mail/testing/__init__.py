"""Emulators of the services this provider talks to, for tests, demos and local runs.

``Sender25Emulator`` is an independent implementation of Sender25's Postal legacy HTTP API on a
loopback port, with fault injection and a clock-driven delivery lifecycle. ``XmailerEmulator``
does the same for xmailer: an SMTP relay (aiosmtpd) plus the HTTP delivery report. The pytest
fixtures live in :mod:`airflow_provider_mail.testing.pytest_plugin`; ``python -m
airflow_provider_mail.testing sender25|xmailer`` runs one from the command line.

Importing this package is cheap: the emulator modules load on first attribute access, so the
pytest plugin costs nothing to test sessions that do not use it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._faults import Fault
    from ._server import RequestRecord
    from .sender25 import Sender25Emulator
    from .sender25.lifecycle import DeliveryRow
    from .sender25.store import StoredMessage
    from .xmailer import XmailerEmulator
    from .xmailer.store import DeliveryEvent, ReceivedMessage

__all__ = [
    "DeliveryEvent",
    "DeliveryRow",
    "Fault",
    "ReceivedMessage",
    "RequestRecord",
    "Sender25Emulator",
    "StoredMessage",
    "XmailerEmulator",
]

_HOMES = {
    "Fault": "._faults",
    "RequestRecord": "._server",
    "Sender25Emulator": ".sender25",
    "DeliveryRow": ".sender25.lifecycle",
    "StoredMessage": ".sender25.store",
    "XmailerEmulator": ".xmailer",
    "DeliveryEvent": ".xmailer.store",
    "ReceivedMessage": ".xmailer.store",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_HOMES[name], __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value
