"""Run the gate on an emulator's clock, from the test side: no clock seam in the product.

The sensor and the trigger read ``time.time()`` and sleep with ``asyncio.sleep``; these helpers put the
emulator's clock behind the names their modules import (``time``, ``asyncio``), for one test.
"""

from __future__ import annotations

import time as real_time
from types import SimpleNamespace
from typing import Any

from airflow_provider_mail.sensors import delivery as sensor_module
from airflow_provider_mail.triggers import delivery as trigger_module


def on_emulator_clock(monkeypatch: Any, emulator: Any) -> None:
    """The sensor and the trigger see the emulator's time; the trigger's sleeps advance it.

    :param monkeypatch: pytest's monkeypatch.
    :param emulator: an emulator with ``now()`` and ``advance()``.
    """
    clock = SimpleNamespace(time=emulator.now, monotonic=real_time.monotonic)

    async def sleep(seconds: float) -> None:
        emulator.advance(seconds)

    monkeypatch.setattr(sensor_module, "time", clock)
    monkeypatch.setattr(trigger_module, "time", clock)
    monkeypatch.setattr(trigger_module, "asyncio", SimpleNamespace(sleep=sleep))
