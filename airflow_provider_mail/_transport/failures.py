"""What a failed attempt means for the message: the three classes every driver maps its library into.

A driver (sync or async, HTTP or SMTP) never decides whether to retry. It only says which of these
happened, and :class:`~airflow_provider_mail._transport.retry.Attempts` decides, once, for every call
of both services:

- ``NEVER_SENT``: the request provably never reached the application (connection refused, DNS,
  connect timeout, 408/429/503 from the front, SMTP hang-up before DATA). Safe to repeat, even a send.
- ``MAYBE_SENT``: the application may have acted on it (reset or timeout after the request was
  written, 500/502/504, a broken or unreadable answer). A read may be repeated; a send never is.
- ``CONFIGURATION``: repeating cannot help (TLS verification, redirects, 404 at the base path,
  refused credentials format). Fatal at once; nothing was sent.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from enum import Enum

from airflow_provider_mail._shared.redact import without_query_strings
from airflow_provider_mail.exceptions import MailProviderError


class FailureKind(str, Enum):
    """Whether the service may have acted on a failed request (see the module docstring)."""

    NEVER_SENT = "never-sent"
    MAYBE_SENT = "maybe-sent"
    CONFIGURATION = "configuration"


class AttemptFailed(Exception):
    """One attempt failed; carries the service's named error and what the failure means.

    :param kind: the failure class.
    :param error: the named error to raise when no retry follows.
    :param retry_after: the server's ``Retry-After`` in seconds, if it sent one.
    :param connection_ended: the server had ended a kept connection before this request began (an
        idle timeout, SMTP ``421`` at MAIL): a new connection may go on at once.
    """

    def __init__(
        self,
        kind: FailureKind,
        error: MailProviderError,
        *,
        retry_after: float | None = None,
        connection_ended: bool = False,
    ):
        super().__init__(str(error))
        self.kind = kind
        self.error = error
        self.retry_after = retry_after
        self.connection_ended = connection_ended


class LibraryError(Exception):
    """A library's exception retold without secrets: its type and its redacted text.

    It stands in as the cause of a failure: the original's text (and its own chain) may quote a URL
    with credentials in its query string, and every traceback prints the cause.
    """


def retold(err: BaseException, redact: Callable[[str], str]) -> LibraryError:
    """The stand-in for ``err`` in an exception chain (see :class:`LibraryError`).

    :param err: the library's exception.
    :param redact: removes the connection's secrets from a text.
    """
    kind = type(err)
    return LibraryError(f"{kind.__module__}.{kind.__qualname__}: {without_query_strings(redact(str(err)))}")


#: HTTP statuses that prove the front answered without passing the request on.
NEVER_SENT_STATUSES = frozenset({408, 429, 503})
#: HTTP statuses after which the application may have processed the request.
MAYBE_SENT_STATUSES = frozenset({500, 502, 504})


def kind_of_http_status(status: int) -> FailureKind | None:
    """The failure class of an HTTP status that is not an answer of the API itself, else ``None``.

    Redirects, 401/403 (host authorization, a WAF) and 404 (a wrong base path) are configuration
    errors: the request did not reach the API, and repeating it cannot change that.

    :param status: the HTTP status code.
    """
    if status in NEVER_SENT_STATUSES:
        return FailureKind.NEVER_SENT
    if status in MAYBE_SENT_STATUSES or status >= 500:
        return FailureKind.MAYBE_SENT
    if 300 <= status < 400 or status in (401, 403, 404, 405):
        return FailureKind.CONFIGURATION
    return None


def wrapped_errors(err: BaseException) -> Iterator[BaseException]:
    """``err`` and everything it wraps: causes, contexts, urllib3 ``reason``s and exception arguments.

    requests, urllib3 and httpx each wrap the socket or ``ssl`` error several levels deep, differently.

    :param err: the library's exception.
    """
    pending: list[object] = [err]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]


#: Handshake failures that repeating cannot fix: an untrusted or mismatched certificate, or a server
#: that does not speak TLS on that port. A reset or EOF during the handshake is not among them.
_TLS_CONFIGURATION_MARKERS = ("CERTIFICATE_VERIFY_FAILED", "WRONG_VERSION_NUMBER", "wrong version number")


def is_tls_verification_failure(err: BaseException) -> bool:
    """Whether ``err`` or anything it wraps is a TLS failure that only the configuration can fix.

    :param err: the library's exception.
    """
    return any(
        isinstance(e, ssl.SSLCertVerificationError) or any(m in str(e) for m in _TLS_CONFIGURATION_MARKERS)
        for e in wrapped_errors(err)
    )
