"""Turn a Sender25 HTTP response into data or a named exception; shared by sync and async clients.

Success is decided from the JSON envelope's ``status`` word, never from HTTP 200 alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from airflow_provider_mail.exceptions import (
    MailProviderError,
    Sender25PayloadTooLarge,
    Sender25RedirectError,
    Sender25TransportError,
    Sender25UnexpectedResponse,
    sender25_error_from_envelope,
)

#: Statuses a gateway answers while the application is unavailable or throttling.
GATEWAY_STATUSES = frozenset({429, 502, 503, 504})


def interpret_response(status_code: int, body: bytes, headers: Mapping[str, str], *, path: str) -> Any:
    """Return the envelope's ``data`` for a success, else raise the matching exception.

    :param status_code: the HTTP status.
    :param body: the raw response body.
    :param headers: the response headers (``Location`` is read for redirects).
    :param path: the API path, for messages.
    """
    if 300 <= status_code < 400:
        location = headers.get("Location")
        raise Sender25RedirectError(
            f"Sender25 answered HTTP {status_code} redirecting {path} to {location or '(no Location)'}. "
            "Redirects are never followed (a POST would be re-sent as a GET without its body). Fix the "
            "connection: use the final URL, normally schema 'https' and host 'br-app.sender25.com'.",
            http_status=status_code,
            location=location,
        )
    if status_code == 413:
        raise Sender25PayloadTooLarge(
            f"Sender25's front proxy refused the request to {path} as too large (HTTP 413). Attachments "
            "travel base64-encoded inside JSON (+33%): send fewer or smaller files, or links instead."
        )
    if status_code in GATEWAY_STATUSES:
        raise Sender25TransportError(
            f"Sender25 answered HTTP {status_code} on {path} ({_excerpt(body) or 'empty body'})",
            http_status=status_code,
        )
    envelope = _decode_json(status_code, body, path)
    api_status = envelope.get("status") if isinstance(envelope, dict) else None
    if api_status == "success":
        return envelope.get("data")
    if api_status in ("error", "parameter-error"):
        raise sender25_error_from_envelope(envelope.get("data"), status=api_status, http_status=status_code)
    raise Sender25UnexpectedResponse(
        f"Sender25 answered HTTP {status_code} on {path} with a body that is not an API envelope "
        f"(status {api_status!r}): {_excerpt(body)}",
        http_status=status_code,
        body_excerpt=_excerpt(body),
    )


def _decode_json(status_code: int, body: bytes, path: str) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        kind = "an empty body" if not body.strip() else "a body that is not JSON"
        raise Sender25UnexpectedResponse(
            f"Sender25 answered HTTP {status_code} on {path} with {kind}: {_excerpt(body)}",
            http_status=status_code,
            body_excerpt=_excerpt(body),
        ) from None


def _excerpt(body: bytes, limit: int = 200) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    return " ".join(text.split())[:limit]


def is_retryable_failure(error: MailProviderError) -> bool:
    """Whether a *read* may be repeated: transport failures, gateway statuses and 5xx pages.

    :param error: the error one attempt produced.
    """
    if isinstance(error, Sender25TransportError):
        return True
    status = getattr(error, "http_status", None)
    return isinstance(error, Sender25UnexpectedResponse) and status is not None and status >= 500


def is_ambiguous_send_failure(error: MailProviderError) -> bool:
    """Whether a *send* that reached the service may have been accepted although we saw a failure.

    True for timeouts and broken connections, 5xx answers and unreadable 2xx bodies; false for API
    errors, redirects, 413 and 4xx pages, which all mean the message was not queued.

    :param error: the error one attempt produced.
    """
    status = getattr(error, "http_status", None)
    if isinstance(error, Sender25TransportError):
        return status is None or status >= 500
    if isinstance(error, Sender25UnexpectedResponse):
        return status is None or status >= 500 or 200 <= status < 300
    return False
