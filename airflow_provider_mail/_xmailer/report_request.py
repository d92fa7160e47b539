"""The report request (parameters, method, auth) and what its HTTP status means. Pure: no I/O.

The rows themselves are parsed by :mod:`~airflow_provider_mail._xmailer.report_parser`; error lines in
a 200 body (codes 207-211) are named there too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from airflow_provider_mail._transport.failures import AttemptFailed, FailureKind, kind_of_http_status
from airflow_provider_mail._transport.http import HttpRequest
from airflow_provider_mail._transport.retry import parse_retry_after
from airflow_provider_mail.exceptions import (
    MailValidationError,
    XmailerConfigurationError,
    XmailerTransportError,
)

if TYPE_CHECKING:
    from airflow_provider_mail._xmailer.connection import XmailerConnectionSettings
    from airflow_provider_mail._xmailer.report_window import ReportWindow

STATUS_FILTERS = {
    "erro": "erro",
    "failed": "erro",
    "error": "erro",
    "sucesso": "sucesso",
    "delivered": "sucesso",
}
USER_AGENT = "airflow-provider-mail"


def report_request(
    settings: XmailerConnectionSettings,
    window: ReportWindow,
    *,
    status: str | None = None,
    recipient: str | None = None,
    sender: str | None = None,
    queue_id: str | None = None,
) -> HttpRequest:
    """The request for a report of ``window``; credentials go in the form body unless GET is configured.

    :param settings: the connection settings.
    :param window: the report window.
    :param status: ``"sucesso"``/``"delivered"`` or ``"erro"``/``"failed"``.
    :param recipient: only rows to this address (``emaildestino``).
    :param sender: only rows from this address (``remetente``).
    :param queue_id: only this queue id (``idMensagem``, newer API).
    """
    params = {**_auth_params(settings), **window.query_params()}
    if status is not None:
        if not isinstance(status, str) or status.lower() not in STATUS_FILTERS:
            raise MailValidationError(
                f"`status` must be one of {sorted(STATUS_FILTERS)}, got {status!r}", code="InvalidArgument"
            )
        params["status"] = STATUS_FILTERS[status.lower()]
    for name, value in (("emaildestino", recipient), ("remetente", sender), ("idMensagem", queue_id)):
        if value:
            params[name] = value
    headers = {"User-Agent": USER_AGENT}
    if settings.report_method == "get":
        return HttpRequest("GET", settings.report_url, headers, params=params)
    return HttpRequest("POST", settings.report_url, headers, form=params)


def check_report_status(status: int, headers: Mapping[str, str], url: str) -> None:
    """Raise the classified failure for a report answer that is not a 2xx; return for a 2xx.

    :param status: the HTTP status.
    :param headers: the response headers.
    :param url: the report URL (no credentials: they are never in it, or stripped by the caller).
    """
    if 200 <= status < 300:
        return
    kind = kind_of_http_status(status)
    if kind is None or kind is FailureKind.CONFIGURATION:
        location = headers.get("Location")
        raise AttemptFailed(
            FailureKind.CONFIGURATION,
            XmailerConfigurationError(
                f"the report endpoint {url} answered HTTP {status}"
                + (f" (redirect to {location})" if location else "")
                + "; fix the connection's host, schema or report_path",
                http_status=status,
            ),
        )
    raise AttemptFailed(
        kind,
        XmailerTransportError(f"the report endpoint {url} answered HTTP {status}", http_status=status),
        retry_after=parse_retry_after(headers.get("Retry-After")),
    )


def _auth_params(settings: XmailerConnectionSettings) -> dict[str, str]:
    if settings.auth_mode == "token":
        return {"token_auth": settings.password}
    return {"usuario_smtp": settings.username, "senha_smtp": settings.password}
