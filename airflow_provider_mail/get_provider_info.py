"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

Kept import-free: Airflow 3.2+ builds the connection form from this dict without importing the hook.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_mail import __version__


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
            {
                "connection-type": "sender25",
                "hook-class-name": "airflow_provider_mail.hooks.sender25.Sender25Hook",
                "hook-name": "Sender25",
                "ui-field-behaviour": {
                    "hidden-fields": ["login", "extra"],
                    "relabeling": {
                        "password": "API key (X-Server-API-Key)",
                        "host": "Host or base URL",
                        "schema": "Scheme",
                    },
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
                },
                "conn-fields": {
                    "from_email": {
                        "label": "Default From address",
                        "description": "Sender used when a task gives none.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "timeout": {
                        "label": "Read timeout (s)",
                        "description": "Seconds to wait for an answer (default 30).",
                        "schema": {"type": ["number", "null"], "default": 30},
                    },
                    "connect_timeout": {
                        "label": "Connect timeout (s)",
                        "description": "Seconds to wait for a connection (default 10).",
                        "schema": {"type": ["number", "null"], "default": 10},
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "description": "Retries of reads and of sends that never reached the API (3).",
                        "schema": {"type": ["integer", "null"], "default": 3, "minimum": 0},
                    },
                    "retry_backoff": {
                        "label": "Retry backoff (s)",
                        "description": "First backoff step; doubles on every retry (1.0).",
                        "schema": {"type": ["number", "null"], "default": 1.0},
                    },
                    "verify": {
                        "label": "Verify TLS",
                        "description": "true (default), false, or the path of a CA bundle.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "allow_insecure_http": {
                        "label": "Allow plain http",
                        "description": "Permit http to a non-loopback host (not advised).",
                        "schema": {"type": ["boolean", "null"], "default": False},
                    },
                },
            },
            {
                "connection-type": "xmailer",
                "hook-class-name": "airflow_provider_mail.hooks.xmailer.XmailerReportHook",
                "hook-name": "xmailer",
                "ui-field-behaviour": {
                    "hidden-fields": ["extra"],
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
                },
                "conn-fields": {
                    "auth": {
                        "label": "Report auth",
                        "description": "password (user + password, default) or token (token_auth).",
                        "schema": {"type": ["string", "null"], "enum": ["password", "token", None]},
                    },
                    "report_path": {
                        "label": "Report path",
                        "description": "Path of the report endpoint (default /http/report.php).",
                        "schema": {"type": ["string", "null"]},
                    },
                    "timezone": {
                        "label": "Service time zone",
                        "description": "Time zone of report times (default America/Sao_Paulo).",
                        "schema": {"type": ["string", "null"]},
                    },
                    "smtp_host": {
                        "label": "SMTP host",
                        "description": "The relay host (default smtp.xmailer.com.br).",
                        "schema": {"type": ["string", "null"]},
                    },
                    "smtp_port": {
                        "label": "SMTP port",
                        "description": "587 for STARTTLS (default) or 465 for implicit TLS.",
                        "schema": {"type": ["integer", "null"], "default": 587},
                    },
                    "smtp_tls": {
                        "label": "SMTP TLS",
                        "description": "starttls, ssl or none (none only to loopback).",
                        "schema": {"type": ["string", "null"], "enum": ["starttls", "ssl", "none", None]},
                    },
                    "from_email": {
                        "label": "Default From address",
                        "description": "Sender used when a task gives none.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "timeout": {
                        "label": "Timeout (s)",
                        "description": "Seconds to wait for the report or the relay (default 60).",
                        "schema": {"type": ["number", "null"], "default": 60},
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "description": "Retries of report requests and SMTP connects (3).",
                        "schema": {"type": ["integer", "null"], "default": 3, "minimum": 0},
                    },
                },
            },
        ],
    }
