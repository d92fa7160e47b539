"""Connection forms of ``sender25`` and ``xmailer`` for Airflow < 3.2, which asks hooks for wtforms widgets.

Airflow 3.2+ reads the same fields from ``get_provider_info()["connection-types"]`` without importing
this module; ``tests/test_get_provider_info.py`` keeps the two descriptions in sync.
"""

from __future__ import annotations

from typing import Any

SENDER25_UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden_fields": ["login", "extra"],
    "relabeling": {"password": "API key (X-Server-API-Key)", "host": "Host or base URL", "schema": "Scheme"},
    "placeholders": {
        "host": "br-app.sender25.com (default) or https://br-app.sender25.com",
        "schema": "https",
        "password": "server API key from the Sender25 panel",
        "from_email": "Acme <noreply@acme.com.br>",
        "timeout": "30",
        "connect_timeout": "10",
        "max_retries": "3",
        "retry_backoff": "1.0",
        "verify": "true, false or /path/to/ca-bundle.pem",
    },
}

#: (name, label, kind, description) of each extra; kind is one of string/number/integer/boolean.
SENDER25_EXTRA_FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("from_email", "Default From address", "string", "Sender used when a task gives none."),
    ("timeout", "Read timeout (s)", "number", "Seconds to wait for an answer (default 30)."),
    ("connect_timeout", "Connect timeout (s)", "number", "Seconds to wait for a connection (default 10)."),
    (
        "max_retries",
        "Max retries",
        "integer",
        "Retries of reads and of sends that never reached the API (3).",
    ),
    ("retry_backoff", "Retry backoff (s)", "number", "First backoff step; doubles on every retry (1.0)."),
    ("verify", "Verify TLS", "string", "true (default), false, or the path of a CA bundle."),
    (
        "allow_insecure_http",
        "Allow plain http",
        "boolean",
        "Permit http to a non-loopback host (not advised).",
    ),
)


XMAILER_UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden_fields": ["extra"],
    "relabeling": {
        "login": "SMTP user (usuario_smtp)",
        "password": "SMTP password, or report token",
        "host": "Report host or base URL",
        "schema": "Scheme",
    },
    "placeholders": {
        "host": "api.xmailer.com.br (default)",
        "schema": "https",
        "login": "user from the xmailer panel",
        "smtp_host": "smtp.xmailer.com.br",
        "smtp_port": "587",
        "timezone": "America/Sao_Paulo",
        "report_path": "/http/report.php",
    },
}

XMAILER_EXTRA_FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("auth", "Report auth", "string", "password (user + password, default) or token (token_auth)."),
    ("report_path", "Report path", "string", "Path of the report endpoint (default /http/report.php)."),
    ("timezone", "Service time zone", "string", "Time zone of report times (default America/Sao_Paulo)."),
    ("smtp_host", "SMTP host", "string", "The relay host (default smtp.xmailer.com.br)."),
    ("smtp_port", "SMTP port", "integer", "587 for STARTTLS (default) or 465 for implicit TLS."),
    ("smtp_tls", "SMTP TLS", "string", "starttls, ssl or none (none only to loopback)."),
    ("from_email", "Default From address", "string", "Sender used when a task gives none."),
    ("timeout", "Timeout (s)", "number", "Seconds to wait for the report or the relay (default 60)."),
    ("max_retries", "Max retries", "integer", "Retries of report requests and SMTP connects (3)."),
)


def xmailer_form_widgets() -> dict[str, Any]:
    """Build the wtforms fields of the ``xmailer`` extras."""
    return _widgets(XMAILER_EXTRA_FIELDS)


def sender25_form_widgets() -> dict[str, Any]:
    """Build the wtforms fields of the ``sender25`` extras."""
    return _widgets(SENDER25_EXTRA_FIELDS)


def _widgets(fields: tuple[tuple[str, str, str, str], ...]) -> dict[str, Any]:
    """Build wtforms fields (imports the UI libraries only when called)."""
    from wtforms import BooleanField, IntegerField, StringField
    from wtforms.validators import NumberRange, Optional

    try:
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
    except ImportError:  # Airflow 3 without the FAB UI: plain fields still describe the form
        BS3TextFieldWidget = None
        lazy_gettext = str

    def text_widget() -> dict[str, Any]:
        return {"widget": BS3TextFieldWidget()} if BS3TextFieldWidget else {}

    widgets: dict[str, Any] = {}
    for name, label, kind, description in fields:
        if kind == "boolean":
            widgets[name] = BooleanField(lazy_gettext(label), default=False, description=description)
        elif kind == "integer":
            widgets[name] = IntegerField(
                lazy_gettext(label),
                validators=[Optional(), NumberRange(min=0)],
                description=description,
                **text_widget(),
            )
        else:
            widgets[name] = StringField(lazy_gettext(label), description=description, **text_widget())
    return widgets
