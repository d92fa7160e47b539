"""The connection form offers every webhook extra the receiver reads, starting on the receiver's defaults."""

from __future__ import annotations

from airflow_provider_mail._shared.fields import CONNECTION_FORMS
from airflow_provider_mail._webhooks.envelope import DEFAULT_MAX_AGE_SECONDS, DEFAULT_MAX_BODY_BYTES


def test_the_sender25_form_offers_the_webhook_extras_with_the_receivers_defaults() -> None:
    extras = {extra.name: extra for extra in CONNECTION_FORMS["sender25"].extras}

    assert extras["webhook_max_age"].default == DEFAULT_MAX_AGE_SECONDS
    assert extras["webhook_max_body_bytes"].default == DEFAULT_MAX_BODY_BYTES
    assert extras["webhook_allow_sha1"].default is True
    assert "webhook_public_key" in extras
