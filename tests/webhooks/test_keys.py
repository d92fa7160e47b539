"""The key source: the extra's key, or the JWKS through the hook, cached, re-read after a rotation."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from airflow_provider_mail._webhooks.settings import resolve_webhook_settings
from airflow_provider_mail.testing import Sender25Emulator
from airflow_provider_mail.testing.sender25.webhooks import WebhookSigner
from airflow_provider_mail.webhooks._keys import JWKS_MIN_REFRESH_SECONDS, KeySource


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def connection(emulator: Sender25Emulator, **extra: str):
    from airflow.models.connection import Connection

    fields = json.loads(emulator.airflow_connection(**extra))
    return Connection(conn_id="sender25_keys", **fields)


def jwks_fetches(emulator: Sender25Emulator) -> int:
    return len([r for r in emulator.requests if r.path == "/.well-known/jwks.json"])


def public_numbers(keys) -> list[int]:
    return [key.public_numbers().n for key in keys]


def test_a_rotated_postal_key_is_fetched_again_at_most_once_a_minute(sender25_emulator) -> None:
    conn = connection(sender25_emulator)
    settings = resolve_webhook_settings(conn)
    clock = Clock()
    source = KeySource(clock=clock)
    first = source.keys(settings, conn)
    emulator_key = load_pem_public_key(sender25_emulator.webhook_signer.public_pem.encode())
    assert public_numbers(first) == [emulator_key.public_numbers().n]
    sender25_emulator._webhooks._signer = WebhookSigner()  # Postal's key rotated
    assert source.keys(settings, conn) == first and jwks_fetches(sender25_emulator) == 1  # cached
    assert not source.can_refresh(settings)  # a bad signature right now does not refetch
    clock.now += JWKS_MIN_REFRESH_SECONDS
    assert source.can_refresh(settings)
    rotated = source.keys(settings, conn, stale=True)
    assert public_numbers(rotated) != public_numbers(first)
    assert jwks_fetches(sender25_emulator) == 2


def test_a_key_in_the_extra_never_fetches_the_jwks(sender25_emulator) -> None:
    conn = connection(sender25_emulator, webhook_public_key=sender25_emulator.webhook_signer.dkim_value)
    source = KeySource()
    assert len(source.keys(resolve_webhook_settings(conn), conn, stale=True)) == 1
    assert jwks_fetches(sender25_emulator) == 0
    assert not source.can_refresh(resolve_webhook_settings(conn))


def test_an_unreachable_jwks_is_a_typed_error(sender25_emulator) -> None:
    from airflow_provider_mail.exceptions import MailProviderError
    from airflow_provider_mail.testing import Fault

    conn = connection(sender25_emulator)
    sender25_emulator.inject(Fault.HTTP_502)
    with pytest.raises(MailProviderError):
        KeySource().keys(resolve_webhook_settings(conn), conn)
