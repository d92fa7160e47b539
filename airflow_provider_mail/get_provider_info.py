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
            }
        ],
        "hooks": [
            {"integration-name": "Sender25", "python-modules": ["airflow_provider_mail.hooks.sender25"]},
        ],
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
            }
        ],
    }
