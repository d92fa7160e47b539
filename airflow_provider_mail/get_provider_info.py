"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

Kept import-free: Airflow 3.2+ builds the connection form from this dict without importing the hook.
The form itself is declared once, in :mod:`airflow_provider_mail._shared.fields`. Everything Airflow can
show is declared here: hooks, operators (the bulk ones too), sensors, triggers, the notifier, the
``[email]`` backend, the ``[mail_provider]`` options (``airflow config list``) and, on Airflow 3.2+, the
``airflow mail-ledger`` CLI command.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_mail import __version__
from airflow_provider_mail._shared.fields import CONNECTION_FORMS

_PACKAGE = "airflow_provider_mail"
_SENDER25, _XMAILER = "Sender25", "xmailer"


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata (validated against ``provider_info.schema.json`` by the tests)."""
    return {
        "package-name": "airflow-provider-mail",
        "name": "Mail (Sender25, xmailer)",
        "description": "Send transactional e-mail through Sender25 and xmailer and confirm its delivery.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _SENDER25,
                "external-doc-url": "https://br-app.sender25.com",
                "tags": ["service"],
            },
            {
                "integration-name": _XMAILER,
                "external-doc-url": "https://docs.xmailer.com.br",
                "tags": ["service"],
            },
        ],
        "hooks": _by_service("hooks.sender25", "hooks.xmailer"),
        "operators": _by_service(
            ["operators.sender25", "operators.bulk"], ["operators.xmailer", "operators.bulk"]
        ),
        "sensors": _by_service("sensors.delivery", "sensors.delivery"),
        "triggers": _by_service("triggers.delivery", ["triggers.delivery", "triggers.xmailer_failures"]),
        "notifications": [f"{_PACKAGE}.notifications.sender25.Sender25Notifier"],
        "email-backends": [f"{_PACKAGE}.utils.emailer.send_email"],
        "connection-types": [
            _connection_type("sender25", f"{_PACKAGE}.hooks.sender25.Sender25Hook", _SENDER25),
            _connection_type("xmailer", f"{_PACKAGE}.hooks.xmailer.XmailerReportHook", _XMAILER),
        ],
        # `airflow mail-ledger purge`: read by Airflow 3 (tested on 3.3.2); 2.11 ignores the key.
        "cli": [f"{_PACKAGE}.cli.get_cli_commands"],
        "config": {"mail_provider": _MAIL_PROVIDER_CONFIG},
        # The webhook receiver is an ``airflow.plugins`` entry point only: declared here as well,
        # Airflow would report the plugin registered twice.
    }


#: ``[mail_provider]``: what ``airflow config list`` shows (each option's description, type, default
#: and example). The code reads these options in :mod:`airflow_provider_mail._ledger.ledger`; the
#: defaults here are the same values (a test checks it).
_MAIL_PROVIDER_CONFIG: dict[str, Any] = {
    "description": "Options of airflow-provider-mail (the Sender25 and xmailer provider).",
    "options": {
        "send_ledger": {
            "description": (
                "Where the send operators keep the send ledger that stops a retried try from sending a "
                "message again: default (the task state store on Airflow 3.3+, else Variables), variable, "
                "task_state_store, off, or an object-storage URL. A task's ledger= argument wins."
            ),
            "version_added": "0.1.0",
            "type": "string",
            "example": "s3://aws_default@acme-mail/send-ledger",
            "default": "default",
        },
        "send_ledger_retention_days": {
            "description": (
                "Days a send-ledger record is kept after its last write; an expired record is ignored (a "
                "retry after that would send again). airflow_provider_mail.ledger.purge_expired, or "
                "`airflow mail-ledger purge URL`, deletes expired records."
            ),
            "version_added": "0.1.0",
            "type": "float",
            "example": "30",
            "default": "7",
        },
    },
}


def _by_service(sender25: str | list[str], xmailer: str | list[str]) -> list[dict[str, Any]]:
    """One entry per integration, the modules given relative to the package.

    :param sender25: the Sender25 integration's module(s).
    :param xmailer: the xmailer integration's module(s).
    """
    entries = []
    for name, modules in ((_SENDER25, sender25), (_XMAILER, xmailer)):
        listed = [modules] if isinstance(modules, str) else modules
        entries.append({"integration-name": name, "python-modules": [f"{_PACKAGE}.{m}" for m in listed]})
    return entries


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
