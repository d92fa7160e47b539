"""Turn a Sender25 HTTP response into data, a named API error, or a classified failed attempt.

Pure: no I/O. Success is decided from the JSON envelope's ``status`` word, never from HTTP 200 alone.
The answer to a send is also checked for its documented shape: an accepted send whose answer cannot be
read is a *maybe sent* failure, which the retry policy turns into :class:`AmbiguousSendError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from airflow_provider_mail._shared.redact import Redactor
from airflow_provider_mail._transport.failures import AttemptFailed, FailureKind, kind_of_http_status
from airflow_provider_mail._transport.http import HttpResponse
from airflow_provider_mail._transport.retry import parse_retry_after
from airflow_provider_mail.exceptions import (
    Sender25ConfigurationError,
    Sender25PayloadTooLarge,
    Sender25RedirectError,
    Sender25TransportError,
    Sender25UnexpectedResponse,
    sender25_error_from_envelope,
)

#: Statuses a gateway answers while the application is unavailable or throttling.
GATEWAY_STATUSES = frozenset({408, 429, 502, 503, 504})


def interpret_response(response: HttpResponse, *, path: str, redact: Redactor | None = None) -> Any:
    """Return the envelope's ``data`` for a success; raise the named error or :class:`AttemptFailed`.

    API errors (an ``error``/``parameter-error`` envelope) are raised as they are: the service answered,
    nothing to retry. Everything else that is not a success is a classified :class:`AttemptFailed`.

    :param response: the HTTP response.
    :param path: the API path, for messages.
    :param redact: removes the connection's secrets from texts (a server may echo them).
    """
    redact = redact or Redactor([])
    status = response.status
    excerpt = _excerpt(response.body, redact)
    if 300 <= status < 400:
        location = response.headers.get("Location")
        raise AttemptFailed(
            FailureKind.CONFIGURATION,
            Sender25RedirectError(
                f"Sender25 answered HTTP {status} redirecting {path} to {location or '(no Location)'}. "
                "Redirects are never followed (a POST would be re-sent as a GET without its body). Fix the "
                "connection: use the final URL, normally schema 'https' and host 'br-app.sender25.com'.",
                http_status=status,
                location=location,
            ),
        )
    if status == 413:
        raise Sender25PayloadTooLarge(
            f"Sender25's front proxy refused the request to {path} as too large (HTTP 413). Attachments "
            "travel base64-encoded inside JSON (+33%): send fewer or smaller files, or links instead."
        )
    kind = kind_of_http_status(status)
    if kind is FailureKind.CONFIGURATION:
        raise AttemptFailed(
            kind,
            Sender25ConfigurationError(
                f"Sender25 answered HTTP {status} on {path} ({excerpt or 'empty body'}): the API is not at "
                "this address. Check the connection's host, schema, port and path prefix.",
                http_status=status,
            ),
        )
    if status in GATEWAY_STATUSES:
        raise AttemptFailed(
            kind or FailureKind.MAYBE_SENT,
            Sender25TransportError(
                f"Sender25 answered HTTP {status} on {path} ({excerpt or 'empty body'})", http_status=status
            ),
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    envelope = _decode_json(response, path, excerpt)
    api_status = envelope.get("status") if isinstance(envelope, dict) else None
    if api_status == "success":
        return envelope.get("data")
    if api_status in ("error", "parameter-error"):
        # An authentication error echoes the key it got (``data.token``, or inside the message):
        # every string of the answer is cleaned before it reaches an exception, a log or an XCom.
        data = envelope.get("data")
        raise sender25_error_from_envelope(redact.json(data), status=api_status, http_status=status)
    failure = unexpected(
        f"Sender25 answered HTTP {status} on {path} with a body that is not an API envelope "
        f"(status {api_status!r}): {excerpt}",
        status,
        excerpt,
    )
    if 400 <= status < 500:  # the front refused the request: nothing was queued, repeating cannot help
        failure.kind = FailureKind.CONFIGURATION
    raise failure


def unexpected(text: str, http_status: int | None, excerpt: str = "") -> AttemptFailed:
    """A *maybe sent* failure: the service answered something this client cannot read.

    :param text: what was wrong.
    :param http_status: the HTTP status.
    :param excerpt: the start of the body, without secrets.
    """
    return AttemptFailed(
        FailureKind.MAYBE_SENT,
        Sender25UnexpectedResponse(text, http_status=http_status, body_excerpt=excerpt),
    )


def expect_object(data: Any, path: str) -> dict[str, Any]:
    """The ``data`` of a success that must be a JSON object.

    :param data: the envelope's data.
    :param path: the API path, for messages.
    """
    if not isinstance(data, dict):
        raise unexpected(f"{path} returned {type(data).__name__} data where an object was expected", 200)
    return data


def expect_list(data: Any, path: str) -> list[dict[str, Any]]:
    """The ``data`` of a success that must be a JSON array of objects.

    :param data: the envelope's data.
    :param path: the API path, for messages.
    """
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise unexpected(f"{path} returned {type(data).__name__} data, expected a list of objects", 200)
    return data


def expect_send_result(data: Any, path: str) -> dict[str, Any]:
    """The answer to a send: ``{"message_id": str | None, "messages": {rcpt: {"id": int, "token": str}}}``.

    Anything else means the send was accepted but cannot be confirmed: a *maybe sent* failure.

    :param data: the envelope's data.
    :param path: the API path, for messages.
    """
    result = expect_object(data, path)
    messages = result.get("messages")
    message_id = result.get("message_id")
    well_formed = (
        isinstance(messages, dict)
        and (message_id is None or isinstance(message_id, str))
        and all(
            isinstance(rcpt, str)
            and isinstance(entry, dict)
            and isinstance(entry.get("id"), int)
            and not isinstance(entry.get("id"), bool)
            and isinstance(entry.get("token"), str)
            for rcpt, entry in messages.items()
        )
    )
    if not well_formed:
        raise unexpected(
            f"{path} answered success with an unexpected shape (keys {sorted(result)[:6]}): the message may "
            "have been queued but its ids cannot be read",
            200,
        )
    return {"message_id": message_id, "messages": messages}


def _decode_json(response: HttpResponse, path: str, excerpt: str) -> Any:
    try:
        return json.loads(response.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        kind = "an empty body" if not response.body.strip() else "a body that is not JSON"
        raise unexpected(
            f"Sender25 answered HTTP {response.status} on {path} with {kind}: {excerpt}",
            response.status,
            excerpt,
        ) from None


def _excerpt(body: bytes, redact: Callable[[str], str], limit: int = 200) -> str:
    # redacted before it is cut: a secret cut in half would escape the redaction
    text = redact(body[:8192].decode("utf-8", errors="replace"))
    return " ".join(text.split())[:limit]
