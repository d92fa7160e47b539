"""The receiver served for real (uvicorn on a loopback port, the test session's metadata database), and
the emulator sending it Postal's signed webhooks."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_mail.testing import Sender25Emulator


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Served:
    """The receiver app on a port, as the api-server mounts it (under ``/mail``)."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = _free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def url(self, conn_id: str) -> str:
        return f"http://127.0.0.1:{self.port}/mail/webhooks/sender25/{conn_id}"


class _Mounted:
    """Starlette-style mount: the child sees ``root_path`` = ``/mail``, ``path`` the full path."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            if not scope["path"].startswith("/mail/"):
                await send({"type": "http.response.start", "status": 404, "headers": []})
                await send({"type": "http.response.body", "body": b""})
                return
            scope = {**scope, "root_path": "/mail"}
        await self.app(scope, receive, send)


@pytest.fixture
def receiver(airflow_db) -> Iterator[Served]:
    from airflow_provider_mail.webhooks.receiver import Sender25WebhookReceiver

    with Served(_Mounted(Sender25WebhookReceiver())) as served:
        yield served


@pytest.fixture
def webhook_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sender25Emulator]:
    """An emulator whose key is in connection ``sender25_hooks`` (PEM), plus ``sender25_jwks`` (no key:
    the JWKS) and ``sender25_dkim`` (the DKIM ``p=`` value)."""
    with Sender25Emulator(verified_domains=("acme.example",)) as emulator:
        signer = emulator.webhook_signer
        monkeypatch.setenv(
            "AIRFLOW_CONN_SENDER25_HOOKS", emulator.airflow_connection(webhook_public_key=signer.public_pem)
        )
        monkeypatch.setenv("AIRFLOW_CONN_SENDER25_JWKS", emulator.airflow_connection())
        monkeypatch.setenv(
            "AIRFLOW_CONN_SENDER25_DKIM", emulator.airflow_connection(webhook_public_key=signer.dkim_value)
        )
        monkeypatch.setenv(
            "AIRFLOW_CONN_SENDER25_NOSHA1",
            emulator.airflow_connection(webhook_public_key=signer.public_pem, webhook_allow_sha1=False),
        )
        monkeypatch.setenv(
            "AIRFLOW_CONN_NOT_SENDER25",
            json.dumps(
                {"conn_type": "http", "host": "x", "extra": {"webhook_public_key": signer.public_pem}}
            ),
        )
        yield emulator


def asset_events(name: str) -> list[dict[str, Any]]:
    """The extras of the asset events of asset ``name`` in the metadata database, oldest first."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.name == name)
            .order_by(AssetEvent.id)
        ).all()
        return [dict(row.extra) for row in rows]
