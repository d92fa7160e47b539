"""Fixtures of the gate tests: an in-memory XCom store (see tests/_delivery/xcom_store.py)."""

from __future__ import annotations

from tests._delivery.xcom_store import xcom_store  # noqa: F401  (a fixture)
