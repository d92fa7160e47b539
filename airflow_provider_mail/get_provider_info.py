"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

Kept import-free: Airflow 3.2+ builds the connection form from this dict without importing the hook.
The form itself is declared once, in :mod:`airflow_provider_mail._shared.fields`.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_mail import __version__
from airflow_provider_mail._shared.fields import CONNECTION_FORMS


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata (validated against ``provider_info.schema.json`` by the tests)."""
    return {
        "package-name": "airflow-provider-mail",
        "name": "Mail (Sender25, xmailer)",
        "description": "Send transactional e-mail through Sender25 and xmailer and confirm its delivery.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Sender25",
                "external-doc-url": "https://br-app.sender25.com",
                "tags": ["service"],
            },
            {
                "integration-name": "xmailer",
                "external-doc-url": "https://docs.xmailer.com.br",
                "tags": ["service"],
            },
        ],
        "hooks": [
            {"integration-name": "Sender25", "python-modules": ["airflow_provider_mail.hooks.sender25"]},
            {"integration-name": "xmailer", "python-modules": ["airflow_provider_mail.hooks.xmailer"]},
        ],
        "operators": [
            {"integration-name": "Sender25", "python-modules": ["airflow_provider_mail.operators.sender25"]},
            {"integration-name": "xmailer", "python-modules": ["airflow_provider_mail.operators.xmailer"]},
        ],
        "notifications": ["airflow_provider_mail.notifications.sender25.Sender25Notifier"],
        "connection-types": [
            _connection_type("sender25", "airflow_provider_mail.hooks.sender25.Sender25Hook", "Sender25"),
            _connection_type("xmailer", "airflow_provider_mail.hooks.xmailer.XmailerReportHook", "xmailer"),
        ],
    }


def _connection_type(conn_type: str, hook_class_name: str, hook_name: str) -> dict[str, Any]:
    """One ``connection-types`` entry, its form generated from the single declaration in ``fields``.

    :param conn_type: the connection type.
    :param hook_class_name: the dotted path of the hook Airflow registers for it.
    :param hook_name: the name shown in the connection type list.
    """
    form = CONNECTION_FORMS[conn_type]
    return {
        "connection-type": conn_type,
        "hook-class-name": hook_class_name,
        "hook-name": hook_name,
        "ui-field-behaviour": form.provider_info_behaviour(),
        "conn-fields": form.conn_fields(),
    }
