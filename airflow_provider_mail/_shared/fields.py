"""The connection forms of ``sender25`` and ``xmailer``, declared once.

Each connection type has one :class:`ConnectionForm`: the standard fields it hides, relabels and
explains, and one :class:`ExtraField` per extra its hook reads. Everything Airflow reads is generated
from it:

* :meth:`ConnectionForm.conn_fields` and :meth:`ConnectionForm.provider_info_behaviour` go into
  ``get_provider_info()["connection-types"]`` (Airflow 3.2+ builds the form from them without importing
  the hook);
* :meth:`ConnectionForm.form_widgets` and :meth:`ConnectionForm.hook_behaviour` are what the hooks'
  ``get_connection_form_widgets`` / ``get_ui_field_behaviour`` return (Airflow < 3.2).

Import-free on purpose (stdlib only at module level): ``get_provider_info`` imports it, and wtforms is
imported only when the legacy widgets are built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["string", "integer", "number", "boolean"]
Scalar = str | int | float | bool


@dataclass(frozen=True)
class ExtraField:
    """One extra of a connection, as the form shows it.

    :param name: the key in the connection's extras.
    :param label: the form label.
    :param kind: ``string``, ``integer``, ``number`` or ``boolean``.
    :param description: the help text under the field.
    :param default: the value the hook uses when the extra is unset; the form starts on it.
    :param choices: the allowed values (a dropdown on Airflow 3.2+); needs a ``default``.
    :param placeholder: the grey hint of an empty field.
    :param minimum: the smallest allowed number.
    :param maximum: the largest allowed number.
    """

    name: str
    label: str
    kind: Kind
    description: str
    default: Scalar | None = None
    choices: tuple[str, ...] = ()
    placeholder: str | None = None
    minimum: float | None = None
    maximum: float | None = None

    def __post_init__(self) -> None:
        # A dropdown without a default starts empty and Airflow 3 saves ``null``; never allow it.
        if self.choices and self.default not in self.choices:
            raise ValueError(f"extra {self.name!r}: a field with choices needs a default among them")

    def json_schema(self) -> dict[str, Any]:
        """The JSON schema of the field for ``conn-fields`` (Airflow 3.2+).

        A field with a default that is a dropdown or a switch is not nullable, so the form never offers
        or saves ``null`` for it; other fields accept ``null`` (unset: the hook's default applies).
        """
        schema: dict[str, Any]
        if self.choices or (self.kind == "boolean" and self.default is not None):
            schema = {"type": self.kind}
        else:
            schema = {"type": [self.kind, "null"]}
        if self.choices:
            schema["enum"] = list(self.choices)
        if self.default is not None:
            schema["default"] = self.default
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        return schema


@dataclass(frozen=True)
class ConnectionForm:
    """The whole form of one connection type.

    :param conn_type: the connection type.
    :param hidden_fields: standard fields the form hides.
    :param relabeling: new labels of standard fields.
    :param placeholders: hints of standard fields (extras carry their own).
    :param extras: the extras, in form order.
    """

    conn_type: str
    hidden_fields: tuple[str, ...]
    relabeling: dict[str, str]
    placeholders: dict[str, str]
    extras: tuple[ExtraField, ...] = field(default=())

    def conn_fields(self) -> dict[str, Any]:
        """``conn-fields`` of ``get_provider_info`` (Airflow 3.2+)."""
        return {
            extra.name: {
                "label": extra.label,
                "description": extra.description,
                "schema": extra.json_schema(),
            }
            for extra in self.extras
        }

    def all_placeholders(self) -> dict[str, str]:
        """Placeholders of the standard fields, then of the extras that have one."""
        return {
            **self.placeholders,
            **{extra.name: extra.placeholder for extra in self.extras if extra.placeholder},
        }

    def provider_info_behaviour(self) -> dict[str, Any]:
        """``ui-field-behaviour`` of ``get_provider_info`` (kebab-case keys)."""
        return {
            "hidden-fields": list(self.hidden_fields),
            "relabeling": dict(self.relabeling),
            "placeholders": self.all_placeholders(),
        }

    def hook_behaviour(self) -> dict[str, Any]:
        """What ``get_ui_field_behaviour`` returns (snake-case keys, Airflow < 3.2)."""
        return {
            "hidden_fields": list(self.hidden_fields),
            "relabeling": dict(self.relabeling),
            "placeholders": self.all_placeholders(),
        }

    def form_widgets(self) -> dict[str, Any]:
        """What ``get_connection_form_widgets`` returns: wtforms fields (imported only here).

        Airflow < 3.2 accepts only String/Integer/Boolean/Password fields, so numbers are text
        fields (the hook validates them) and choices are text fields checked by ``AnyOf``.
        """
        from wtforms import BooleanField, IntegerField, StringField
        from wtforms.validators import AnyOf, NumberRange, Optional

        try:
            from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
            from flask_babel import lazy_gettext
        except ImportError:  # no FAB UI installed: plain fields still describe the form
            BS3TextFieldWidget = None
            lazy_gettext = str

        text_widget = {"widget": BS3TextFieldWidget()} if BS3TextFieldWidget else {}
        widgets: dict[str, Any] = {}
        for extra in self.extras:
            common: dict[str, Any] = {"description": extra.description, "default": extra.default}
            if extra.kind == "boolean":
                widgets[extra.name] = BooleanField(lazy_gettext(extra.label), **common)
            elif extra.kind == "integer":
                widgets[extra.name] = IntegerField(
                    lazy_gettext(extra.label),
                    validators=[Optional(), NumberRange(min=extra.minimum, max=extra.maximum)],
                    **common,
                    **text_widget,
                )
            else:
                validators: list[Any] = [Optional()]
                if extra.choices:
                    validators.append(AnyOf(list(extra.choices)))
                if extra.default is not None:
                    common["default"] = str(extra.default)
                widgets[extra.name] = StringField(
                    lazy_gettext(extra.label), validators=validators, **common, **text_widget
                )
        return widgets


_TIMEOUT = "Seconds to wait for an answer."
_CONNECT_TIMEOUT = "Seconds to wait for the TCP/TLS connection."
_RETRY_BACKOFF = "First wait between retries; it doubles on every retry."
_RETRY_MAX_WAIT = "Longest wait between two retries."
_VERIFY = "Verify the service's TLS certificate: true (default), false, or the path of a CA bundle."
_FROM = "Sender used when a task gives none."

SENDER25_FORM = ConnectionForm(
    conn_type="sender25",
    hidden_fields=("login", "extra"),
    relabeling={"password": "API key (X-Server-API-Key)", "host": "Host or base URL", "schema": "Scheme"},
    placeholders={
        "host": "br-app.sender25.com (default) or https://br-app.sender25.com",
        "schema": "https",
        "password": "server API key from the Sender25 panel",
    },
    extras=(
        ExtraField(
            "from_email", "Default From address", "string", _FROM, placeholder="Acme <noreply@acme.com.br>"
        ),
        ExtraField("timeout", "Read timeout (s)", "number", _TIMEOUT, default=30, minimum=0),
        ExtraField(
            "connect_timeout", "Connect timeout (s)", "number", _CONNECT_TIMEOUT, default=10, minimum=0
        ),
        ExtraField(
            "max_retries",
            "Max retries",
            "integer",
            "Retries of reads, and of sends that provably never reached the API.",
            default=3,
            minimum=0,
        ),
        ExtraField("retry_backoff", "Retry backoff (s)", "number", _RETRY_BACKOFF, default=1.0, minimum=0),
        ExtraField("retry_max_wait", "Retry max wait (s)", "number", _RETRY_MAX_WAIT, default=60, minimum=0),
        ExtraField(
            "verify", "Verify TLS", "string", _VERIFY, placeholder="true, false or /path/to/ca-bundle.pem"
        ),
        ExtraField(
            "allow_insecure_http",
            "Allow plain http",
            "boolean",
            "Permit http to a non-loopback host: the API key would travel in clear text (not advised).",
            default=False,
        ),
        ExtraField(
            "webhook_public_key",
            "Webhook public key",
            "string",
            "The key Postal signs webhooks with: a PEM, or the p= value of the postal._domainkey TXT "
            "record. Empty: read from <base URL>/.well-known/jwks.json.",
            placeholder="MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQ...",
        ),
        ExtraField(
            "webhook_allow_sha1",
            "Accept SHA-1 webhook signatures",
            "boolean",
            "Accept X-Postal-Signature (SHA-1) when X-Postal-Signature-256 is absent (Postal before 3.2).",
            default=True,
        ),
        ExtraField(
            "webhook_max_age",
            "Webhook max age (s)",
            "number",
            "How old a webhook's timestamp may be (Postal retries for about 36 minutes).",
            default=7200.0,  # _webhooks.envelope.DEFAULT_MAX_AGE_SECONDS (tests/webhooks checks)
            minimum=1,
        ),
        ExtraField(
            "webhook_max_body_bytes",
            "Webhook max body (bytes)",
            "integer",
            "The largest webhook body read; a larger one is refused while it streams.",
            default=262144,  # _webhooks.envelope.DEFAULT_MAX_BODY_BYTES (tests/webhooks checks)
            minimum=1,
        ),
    ),
)

XMAILER_FORM = ConnectionForm(
    conn_type="xmailer",
    hidden_fields=("extra",),
    relabeling={
        "login": "SMTP user (usuario_smtp)",
        "password": "SMTP password, or report token",
        "host": "Report host or base URL",
        "schema": "Scheme",
    },
    placeholders={
        "host": "api.xmailer.com.br (default)",
        "schema": "https",
        "login": "user from the xmailer panel",
    },
    extras=(
        ExtraField(
            "auth",
            "Report auth",
            "string",
            "password: SMTP user + password; token: the password field holds the report token (token_auth).",
            default="password",
            choices=("password", "token"),
        ),
        ExtraField(
            "report_path",
            "Report path",
            "string",
            "Path of the report endpoint.",
            default="/http/report.php",
        ),
        ExtraField(
            "report_method",
            "Report method",
            "string",
            "post keeps the password out of URLs and logs; get only for a proxy that needs it.",
            default="post",
            choices=("post", "get"),
        ),
        ExtraField(
            "timezone",
            "Service time zone",
            "string",
            "IANA time zone of the report's times.",
            default="America/Sao_Paulo",
        ),
        ExtraField("smtp_host", "SMTP host", "string", "The relay host.", default="smtp.xmailer.com.br"),
        ExtraField(
            "smtp_port",
            "SMTP port",
            "integer",
            "587 for STARTTLS or 465 for implicit TLS (then choose SMTP TLS: ssl).",
            default=587,
            minimum=1,
            maximum=65535,
        ),
        ExtraField(
            "smtp_tls",
            "SMTP TLS",
            "string",
            "starttls (port 587), ssl (port 465), or none (loopback only unless allowed below).",
            default="starttls",
            choices=("starttls", "ssl", "none"),
        ),
        ExtraField(
            "smtp_verify",
            "Verify the relay's certificate",
            "boolean",
            "Check the relay's TLS certificate (keep on).",
            default=True,
        ),
        ExtraField(
            "smtp_ca_file",
            "Relay CA bundle",
            "string",
            "A CA bundle to verify the relay with, instead of the system's.",
            placeholder="/path/to/ca-bundle.pem",
        ),
        ExtraField(
            "allow_insecure_smtp",
            "Allow SMTP without TLS",
            "boolean",
            "Permit SMTP TLS none to a non-loopback relay: the password would travel in clear text.",
            default=False,
        ),
        ExtraField(
            "allow_insecure_http",
            "Allow plain http",
            "boolean",
            "Permit http to a non-loopback report host: the password would travel in clear text.",
            default=False,
        ),
        ExtraField(
            "from_email", "Default From address", "string", _FROM, placeholder="Acme <noreply@acme.com.br>"
        ),
        ExtraField(
            "timeout",
            "Timeout (s)",
            "number",
            "Seconds to wait for the report or the relay.",
            default=60,
            minimum=0,
        ),
        ExtraField(
            "connect_timeout", "Connect timeout (s)", "number", _CONNECT_TIMEOUT, default=10, minimum=0
        ),
        ExtraField(
            "verify",
            "Verify TLS (report)",
            "string",
            _VERIFY,
            placeholder="true, false or /path/to/ca-bundle.pem",
        ),
        ExtraField(
            "max_retries",
            "Max retries",
            "integer",
            "Retries of report requests and of SMTP connections (never after DATA).",
            default=3,
            minimum=0,
        ),
        ExtraField("retry_backoff", "Retry backoff (s)", "number", _RETRY_BACKOFF, default=1.0, minimum=0),
        ExtraField("retry_max_wait", "Retry max wait (s)", "number", _RETRY_MAX_WAIT, default=60, minimum=0),
    ),
)

#: The form of every connection type of this provider.
CONNECTION_FORMS: dict[str, ConnectionForm] = {form.conn_type: form for form in (SENDER25_FORM, XMAILER_FORM)}


def connection_form_widgets(conn_type: str) -> dict[str, Any]:
    """The wtforms fields of ``conn_type``'s extras (a hook's ``get_connection_form_widgets``).

    :param conn_type: ``sender25`` or ``xmailer``.
    """
    return CONNECTION_FORMS[conn_type].form_widgets()


def ui_field_behaviour(conn_type: str) -> dict[str, Any]:
    """Hidden, relabelled and placeholder fields of ``conn_type`` (a hook's ``get_ui_field_behaviour``).

    :param conn_type: ``sender25`` or ``xmailer``.
    """
    return CONNECTION_FORMS[conn_type].hook_behaviour()
