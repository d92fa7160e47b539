"""The provider's Airflow plugin, registered once as the ``airflow.plugins`` entry point ``mail`` (pyproject),
so installing the package is the whole set-up.

On Airflow 3 it adds the webhook receiver to the api-server (``/mail/webhooks/sender25/{conn_id}``,
:mod:`.receiver`) and the listener that keeps the xmailer watcher's cursor (:mod:`._listener`). Airflow 2
loads the same entry point and gets an empty plugin.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_mail._compat import airflow_3_plugin_parts

#: Where the receiver is mounted on the api-server.
URL_PREFIX = "/mail"


def _airflow_3_parts() -> dict[str, Any]:
    from airflow_provider_mail.webhooks import _listener
    from airflow_provider_mail.webhooks.receiver import Sender25WebhookReceiver

    return {
        "fastapi_apps": [
            {"name": "Sender25 webhooks", "app": Sender25WebhookReceiver(), "url_prefix": URL_PREFIX}
        ],
        "listeners": [_listener],
    }


_PARTS = airflow_3_plugin_parts(_airflow_3_parts)


class MailEventsPlugin(AirflowPlugin):
    """Sender25 webhooks into asset events, and the xmailer watcher's cursor (Airflow 3)."""

    name = "airflow_provider_mail"
    fastapi_apps: list[Any] = _PARTS.get("fastapi_apps", [])
    listeners: list[Any] = _PARTS.get("listeners", [])
