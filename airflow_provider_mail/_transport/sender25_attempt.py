"""One request attempt over requests (sync) or httpx (async), and the shared retry decision.

Both clients report a failed attempt the same way (:class:`FailedAttempt`), so the rule "retry reads;
never repeat a send that may have reached the API" lives in one function, :func:`next_wait`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from airflow_provider_mail._sender25.response import (
    interpret_response,
    is_ambiguous_send_failure,
    is_retryable_failure,
)
from airflow_provider_mail._transport.retry import parse_retry_after
from airflow_provider_mail.exceptions import AmbiguousSendError, MailProviderError, Sender25TransportError

if TYPE_CHECKING:
    from collections.abc import Mapping

    import requests

    from airflow_provider_mail._shared.connection import Sender25ConnectionSettings

log = logging.getLogger(__name__)

#: Front-end statuses that prove the application never saw the request body.
NEVER_REACHED_APP_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class FailedAttempt:
    """What one failed request left behind.

    :param error: the exception to raise if no retry follows.
    :param retryable: whether a *read* may be repeated.
    :param reached_app: False only when the request provably never reached the application.
    :param retry_after: the server's ``Retry-After`` in seconds.
    """

    error: MailProviderError
    retryable: bool
    reached_app: bool = True
    retry_after: float | None = None


def next_wait(
    failure: FailedAttempt,
    *,
    path: str,
    send_to: list[str] | None,
    retry_number: int,
    settings: Sender25ConnectionSettings,
) -> float:
    """Return how long to wait before the next attempt, or raise the final error.

    :param failure: the attempt that failed.
    :param path: the API path, for messages.
    :param send_to: the recipients when the request is a send, else ``None``.
    :param retry_number: retries already made.
    :param settings: the connection settings (retry policy).
    """
    if send_to is not None and failure.reached_app and is_ambiguous_send_failure(failure.error):
        raise AmbiguousSendError(
            ambiguous_send_text(path, failure.error, send_to),
            service="sender25",
            recipients=send_to,
            http_status=getattr(failure.error, "http_status", None),
        ) from failure.error
    policy = settings.retry_policy
    if not failure.retryable or retry_number >= policy.max_retries:
        raise failure.error
    wait = policy.delay(retry_number, failure.retry_after)
    log.warning(
        "Sender25 %s failed (%s); retry %d of %d in %.2f s",
        path,
        failure.error,
        retry_number + 1,
        policy.max_retries,
        wait,
    )
    return wait


def attempt_with_requests(
    session: requests.Session, settings: Sender25ConnectionSettings, path: str, body: bytes
) -> Any:
    """POST once with requests; return the envelope's data or a :class:`FailedAttempt`.

    :param session: the pooled session (carries the key header).
    :param settings: the connection settings.
    :param path: the API path.
    :param body: the JSON body.
    """
    import requests  # here, not at module level: it adds ~25 ms to importing the provider
    from urllib3.exceptions import NewConnectionError

    started = time.monotonic()
    try:
        response = session.post(
            settings.base_url + path,
            data=body,
            timeout=(settings.connect_timeout, settings.timeout),
            allow_redirects=False,
        )
    except requests.exceptions.ConnectTimeout as err:
        return _transport_failure(f"connect timeout to {settings.base_url}: {err}", reached_app=False)
    except requests.exceptions.ConnectionError as err:
        reason: Any = err.args[0] if err.args else None
        refused = isinstance(getattr(reason, "reason", reason), NewConnectionError)
        return _connection_failure(settings, path, err, refused=refused)
    except requests.exceptions.Timeout as err:
        return _transport_failure(f"read timeout after {settings.timeout} s on {path}: {err}")
    return _interpret(response.status_code, response.content, response.headers, path, started)


async def attempt_with_httpx(
    client: httpx.AsyncClient,
    settings: Sender25ConnectionSettings,
    path: str,
    body: bytes,
    headers: dict[str, str],
) -> Any:
    """POST once with httpx; return the envelope's data or a :class:`FailedAttempt`.

    :param client: the loop's shared async client (timeouts, TLS).
    :param headers: the request headers, API key included.
    :param settings: the connection settings.
    :param path: the API path.
    :param body: the JSON body.
    """
    started = time.monotonic()
    try:
        response = await client.post(settings.base_url + path, content=body, headers=headers)
    except (httpx.ConnectTimeout, httpx.PoolTimeout) as err:
        return _transport_failure(f"connect timeout to {settings.base_url}: {err!r}", reached_app=False)
    except httpx.ConnectError as err:
        return _connection_failure(settings, path, err, refused=True)
    except httpx.TimeoutException as err:
        return _transport_failure(f"read timeout after {settings.timeout} s on {path}: {err!r}")
    except httpx.TransportError as err:
        return _connection_failure(settings, path, err, refused=False)
    return _interpret(response.status_code, response.content, response.headers, path, started)


def _interpret(status: int, content: bytes, headers: Mapping[str, str], path: str, started: float) -> Any:
    log.debug("Sender25 POST %s -> HTTP %s in %.3f s", path, status, time.monotonic() - started)
    try:
        return interpret_response(status, content, headers, path=path)
    except MailProviderError as err:
        return FailedAttempt(
            err,
            is_retryable_failure(err),
            reached_app=getattr(err, "http_status", None) not in NEVER_REACHED_APP_STATUSES,
            retry_after=parse_retry_after(headers.get("Retry-After")),
        )


def _transport_failure(text: str, *, reached_app: bool = True) -> FailedAttempt:
    return FailedAttempt(Sender25TransportError(text), retryable=True, reached_app=reached_app)


def _connection_failure(
    settings: Sender25ConnectionSettings, path: str, err: Exception, *, refused: bool
) -> FailedAttempt:
    what = "could not connect to" if refused else "connection broken while talking to"
    return _transport_failure(f"{what} {settings.base_url}{path}: {err!r}", reached_app=not refused)


def ambiguous_send_text(path: str, error: MailProviderError, recipients: list[str]) -> str:
    """The message of an :class:`AmbiguousSendError`: what happened and what to check.

    :param path: the send path.
    :param error: the failure seen.
    :param recipients: who may have been sent the message.
    """
    shown = ", ".join(recipients[:5]) + (f" and {len(recipients) - 5} more" if len(recipients) > 5 else "")
    return (
        f"Sender25 may have accepted this send ({path}) but the outcome is unknown: {error}. "
        f"It was NOT retried, so nothing is sent twice. Recipients: {shown}. Before running the task "
        "again, check the server's message list in the Sender25 panel (filter by recipient, tag or the "
        "trace header) and send again only if no message was queued."
    )
