"""Typed errors of the mail provider, one tree for both services.

Every error is a :class:`MailProviderError` (an ``AirflowException``). Errors that cannot succeed
when the task is simply run again also derive from ``AirflowFailException``, so Airflow fails the
task **without** using its retries (marked *fatal* below: they derive from
:class:`FatalMailProviderError`)::

    MailProviderError                       base of everything raised by this provider
    ├── MailConfigurationError          *   the connection or arguments are wrong (names the fix)
    │   ├── Sender25ConfigurationError  *   TLS verification failed, 401/403/404 at the base path
    │   │   └── Sender25RedirectError   *   the API answered 3xx: wrong scheme/host in the connection
    │   ├── XmailerConfigurationError   *   TLS verification failed, redirect or 404 at the report path
    │   └── AwaitedMessagesUnavailable  *   what a delivery gate awaits is not readable from here (a
    │                                       results file on another machine, deleted XCom pages)
    ├── MailValidationError             *   a message argument is invalid (code + text), found before sending
    │   └── SendLedgerRowChanged        *   a bulk row stands where an earlier try sent one to the same
    │                                       recipients with other content: not sent (code RowChanged)
    ├── AmbiguousSendError              *   a send may or may not have been accepted: never retried
    ├── DeliveryFailedError             *   the delivery gate saw a hard failure, bounce, cancel (or hold)
    ├── SendLedgerError                 *   the send ledger's record is corrupt, foreign or unreadable as ours
    │   └── SendLedgerFenced            *   a newer try claimed the ledger: this stale try stops before
    │                                       its next send (the newer try carries on)
    ├── SendLedgerUnavailable               the send ledger could not be read or written (nothing was sent)
    ├── ServiceAskedToWait                  a 429 asked a batch to wait longer than it can: it stopped,
    │                                       nothing more was sent; a retry after the wait sends the rest
    ├── BulkSendFailed                      more rows of a bulk send failed than max_failed_rows allows
    ├── Sender25ApiError                    the API answered with an error envelope (code + message)
    │   ├── Sender25AuthError           *   AccessDenied, InvalidServerAPIKey, ServerSuspended
    │   ├── Sender25ValidationError     *   a send was refused (NoRecipients, NoContent, …); also a
    │   │                                   MailValidationError; client-side checks use the same code
    │   ├── Sender25MessageNotFound     *   MessageNotFound: unknown id (or past retention)
    │   └── Sender25ParameterError      *   status "parameter-error" (no code): a malformed request
    ├── Sender25PayloadTooLarge         *   HTTP 413 from the front proxy (attachments too big)
    ├── Sender25TransportError              connection failure, timeout, 429/5xx after the retries
    ├── Sender25UnexpectedResponse          not an API envelope: HTML page, empty/truncated body,
    │                                       {"status": 500}, "invalid-json", "internal-server-error"
    ├── XmailerReportError                  the report endpoint answered an error line (code + text)
    │   ├── XmailerMissingParameters    *   "FALTAM PARAMETROS" / codigo 208
    │   ├── XmailerAuthError            *   "FALHA DE AUTENTICACAO" / codigo 207
    │   ├── XmailerBadDate              *   "DATA COM FORMATO INCORRETO" / codigo 210
    │   └── XmailerBadTime              *   "HORA COM FORMATO INCORRETO" / codigo 211
    ├── XmailerReportParseError             a malformed report line in ``strict`` mode
    ├── XmailerUnexpectedResponse           not a report: an HTML page (proxy error page, PHP error)
    ├── XmailerTransportError               report or SMTP connection failure/timeout after the retries
    └── XmailerSmtpError                    the relay answered 4xx (after the retries): nothing queued
        ├── XmailerSmtpRejected         *   5xx at MAIL, DATA or the end of DATA: nothing queued
        ├── XmailerSmtpAuthError        *   AUTH refused (535) or required but impossible
        ├── XmailerRecipientsDeferred       no recipient accepted, some only for now (4xx at RCPT)
        └── XmailerRecipientsRefused    *   every recipient was refused, or any with ``fail_on_refused``

No exception text, ``repr`` or attribute ever holds an API key: the ``token`` echoed by
``InvalidServerAPIKey`` (and any echo of the key in an error's message or data) is redacted before the
exception is built.

Every error also says what went out (:attr:`MailProviderError.send_outcome`, read with
:func:`send_outcome_of`): errors raised before anything is sent say :attr:`WentOut.NOTHING`;
:class:`AmbiguousSendError` says :attr:`WentOut.UNKNOWN`; transport, SMTP and API errors are given
the outcome where they are raised, from what is known there (the phase of the SMTP dialogue, the
HTTP status).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any, TypeVar

from airflow_provider_mail._compat import AirflowException, AirflowFailException

REDACTED = "***"
_E = TypeVar("_E", bound="MailProviderError")


class WentOut(str, Enum):
    """How much of a send the service took."""

    #: Provably nothing was queued for any recipient: sending again is safe (retryable).
    NOTHING = "nothing"
    #: It may have been queued: never send again automatically.
    UNKNOWN = "unknown"
    #: Queued for ``accepted`` (the others were refused): sent, with the refusals recorded.
    SOME = "some"


@dataclass(frozen=True)
class SendOutcome:
    """What went out when a send raised.

    :param went_out: nothing, some recipients, or unknown.
    :param accepted: recipients the service took (with :attr:`WentOut.SOME`).
    :param refused: recipient -> (SMTP or HTTP code, text), when known.
    :param queue_id: the xmailer/Exim queue id, when one was given.
    :param message_id: the Message-ID, when known.
    """

    went_out: WentOut
    accepted: tuple[str, ...] = ()
    refused: Mapping[str, tuple[int, str]] = field(default_factory=dict)
    queue_id: str | None = None
    message_id: str | None = None

    def __post_init__(self) -> None:
        # frozen all the way down: one outcome object may be shared by a class and its instances
        object.__setattr__(self, "went_out", WentOut(self.went_out))
        object.__setattr__(self, "accepted", tuple(self.accepted))
        object.__setattr__(self, "refused", MappingProxyType(dict(self.refused)))


NOTHING_WENT_OUT = SendOutcome(WentOut.NOTHING)
UNKNOWN_OUTCOME = SendOutcome(WentOut.UNKNOWN)


def send_outcome_of(error: BaseException) -> SendOutcome:
    """What went out when ``error`` was raised by a send.

    The error's own ``send_outcome`` when it is a :class:`MailProviderError` (every one carries one),
    else :attr:`WentOut.UNKNOWN`: a foreign exception (a timeout, a kill, a bug) is never taken to
    mean that nothing was sent.

    :param error: the exception raised by the send.
    """
    if isinstance(error, MailProviderError):
        outcome = getattr(error, "send_outcome", None)
        if isinstance(outcome, SendOutcome):
            return outcome
    return UNKNOWN_OUTCOME


class MailProviderError(AirflowException):
    """Base class of every error raised by this provider.

    :attr:`send_outcome` says what went out when it was raised by a send. Each class has a default
    (unknown here, so an error nobody classified never allows a re-send); the code that raises a
    transport, SMTP or API error sets the instance's from what it knows, with :meth:`with_outcome`
    or the ``send_outcome`` argument.
    """

    send_outcome: SendOutcome = UNKNOWN_OUTCOME

    def with_outcome(self: _E, outcome: SendOutcome) -> _E:
        """Set what went out and return ``self`` (``raise Error(...).with_outcome(...)``).

        :param outcome: what went out.
        """
        self.send_outcome = outcome
        return self

    def _set_outcome(self, outcome: SendOutcome | None) -> None:
        if outcome is not None:
            self.send_outcome = outcome


class FatalMailProviderError(MailProviderError, AirflowFailException):
    """Mixin base: an error that a plain task retry cannot fix, so Airflow must not retry."""


class MailConfigurationError(FatalMailProviderError):
    """The connection or the task arguments are wrong; the message says what to change."""

    send_outcome = NOTHING_WENT_OUT


class MailValidationError(FatalMailProviderError):
    """An argument of a message is invalid; raised before anything is sent.

    :param message: what is wrong, naming the argument and the value.
    :param code: a stable code, e.g. ``InvalidAddress``, ``HeaderInjection``, ``AttachmentTooLarge``.
    """

    send_outcome = NOTHING_WENT_OUT
    code: str | None

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Sender25ConfigurationError(MailConfigurationError):
    """The Sender25 connection is wrong: TLS verification failed, or a 401/403/404 at the base path.

    :param http_status: the HTTP status, when a response arrived.
    """

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


class Sender25RedirectError(Sender25ConfigurationError):
    """The API answered with a redirect, which is never followed (a POST would turn into a GET).

    :param http_status: the 3xx status code.
    :param location: the ``Location`` header the server sent, if any.
    """

    def __init__(self, message: str, *, http_status: int, location: str | None) -> None:
        super().__init__(message, http_status=http_status)
        self.location = location


class AmbiguousSendError(FatalMailProviderError):
    """A send request reached the service but its outcome is unknown; it is never retried.

    :param message: what happened and what to check before sending again.
    :param service: ``"sender25"`` or ``"xmailer"``.
    :param recipients: the recipients of the send that may have gone out.
    :param http_status: the HTTP status, when a response arrived.
    :param message_id: the Message-ID of the send, when known.
    """

    send_outcome = UNKNOWN_OUTCOME

    def __init__(
        self,
        message: str,
        *,
        service: str,
        recipients: list[str] | None = None,
        http_status: int | None = None,
        message_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.service = service
        self.recipients = list(recipients or [])
        self.http_status = http_status
        self.send_outcome = SendOutcome(WentOut.UNKNOWN, message_id=message_id)


class DeliveryFailedError(FatalMailProviderError):
    """A message awaited by a delivery sensor failed, bounced, was cancelled (or held, if so configured).

    :param message: names each recipient and the service's reason.
    :param outcomes: ``{message key: outcome}`` of the outcomes and failures the gate's result lists
        (every outcome of a batch of 20 or fewer; ``airflow_provider_mail.xcom`` reads the rest).
    """

    def __init__(self, message: str, *, outcomes: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.outcomes = dict(outcomes or {})


class AwaitedMessagesUnavailable(MailConfigurationError):
    """The messages a delivery gate awaits cannot be read from here: a bulk send's results file on
    another machine's disk, or the XCom pages that held them deleted (the send task cleared).

    :param message: what could not be read, and what to configure.
    :param where: the path, URL or XCom it looked for.
    """

    def __init__(self, message: str, *, where: str) -> None:
        super().__init__(message)
        self.where = where


class SendLedgerError(FatalMailProviderError):
    """A send-ledger record is corrupt or belongs to something else; nothing is sent until it is resolved.

    :param message: what is wrong and what to do.
    :param record: the record's name (an Airflow Variable key, a task-state key or an object URL).
    """

    send_outcome = NOTHING_WENT_OUT

    def __init__(self, message: str, *, record: str) -> None:
        super().__init__(message)
        self.record = record


class SendLedgerUnavailable(MailProviderError):
    """The send ledger could not be read or written before the send; nothing was sent, a retry is safe.

    :param message: the backend's error.
    :param record: the record's name.
    """

    send_outcome = NOTHING_WENT_OUT

    def __init__(self, message: str, *, record: str) -> None:
        super().__init__(message)
        self.record = record


class SendLedgerFenced(SendLedgerError):
    """A newer try of this task instance has claimed the ledger: this (stale) try stops before its
    next send, so two tries never send the same rows. Not retried: the newer try carries on.

    :param message: which try superseded which.
    :param record: the record's name.
    """


class SendLedgerRowChanged(MailValidationError):
    """A row stands where an earlier try sent one to the same recipients, with other content: it is
    not sent (it might be the same message, edited or rendered differently). Code ``RowChanged``.

    :param message: the row, the try that sent the earlier one, and what to do.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, code="RowChanged")


class ServiceAskedToWait(MailProviderError):
    """The service asked the batch to wait longer than it can (a 429's ``Retry-After``): the batch
    stopped at once, nothing more was sent; a retry after the wait sends the rest.

    :param message: the wait and what to do.
    :param wait_seconds: how long the service asked to wait.
    """

    send_outcome = NOTHING_WENT_OUT

    def __init__(self, message: str, *, wait_seconds: float) -> None:
        super().__init__(message)
        self.wait_seconds = wait_seconds


class BulkSendFailed(MailProviderError):
    """More rows of a bulk send failed than ``max_failed_rows`` allows; the others were sent.

    Not fatal: a retry sends only the rows no try has sent yet (the send ledger knows which).

    :param message: counts, the first failed rows and where every row's result is.
    :param failed: rows refused or invalid (nothing sent).
    :param unknown: rows whose outcome is unknown (not re-sent).
    :param total: rows in the batch.
    :param results_path: the results file.
    """

    def __init__(
        self, message: str, *, failed: int, unknown: int = 0, total: int = 0, results_path: str | None = None
    ) -> None:
        super().__init__(message)
        self.failed = failed
        self.unknown = unknown
        self.total = total
        self.results_path = results_path


class Sender25ApiError(MailProviderError):
    """The Sender25 API answered with ``status: error`` (or an unknown error code).

    :param code: the service's error code, e.g. ``"NoRecipients"`` (``None`` for parameter errors).
    :param message: the service's text (Postal omits it for some codes).
    :param data: the error's ``data`` object, secrets redacted.
    :param http_status: the HTTP status of the response (200 for API errors).

    The service answered with an error instead of creating a message: nothing went out.
    """

    send_outcome = NOTHING_WENT_OUT

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        data: dict[str, Any] | None = None,
        http_status: int | None = None,
    ) -> None:
        self.code = code
        self.message = message or ""
        self.data = redact_error_data(data or {})
        self.http_status = http_status
        # Not super(): in Sender25ValidationError the next class is MailValidationError, whose
        # attributes this constructor has already set.
        MailProviderError.__init__(self, self._describe())

    def _describe(self) -> str:
        text = self.message or "(the service sent no message)"
        return f"Sender25 {self.code}: {text}" if self.code else f"Sender25 error: {text}"


class Sender25AuthError(Sender25ApiError, FatalMailProviderError):
    """The API key was missing, is not a valid server API key, or the mail server is suspended."""


class Sender25ValidationError(Sender25ApiError, MailValidationError):
    """A send was refused for its content; same ``code`` whether found by the client or the server."""


class Sender25MessageNotFound(Sender25ApiError, FatalMailProviderError):
    """No message with that id on this mail server (ids are per server; old ones expire)."""


class Sender25ParameterError(Sender25ApiError, FatalMailProviderError):
    """The API answered ``status: parameter-error``: the request's parameters were malformed."""

    def _describe(self) -> str:
        return f"Sender25 parameter error: {self.message}"


class Sender25PayloadTooLarge(FatalMailProviderError):
    """HTTP 413: the request body (base64 attachments inside JSON) exceeds the front proxy's limit."""

    send_outcome = NOTHING_WENT_OUT

    def __init__(self, message: str, *, http_status: int = 413) -> None:
        super().__init__(message)
        self.http_status = http_status


class Sender25TransportError(MailProviderError):
    """The request did not complete (connection, timeout, 429/5xx) even after the configured retries.

    Raised for reads, and for sends that provably never reached the application. Airflow may retry.
    What went out is set by the retry policy from the failure's class (unknown until then).

    :param http_status: the last HTTP status seen, if any.
    :param send_outcome: what went out, when the raiser knows it.
    """

    def __init__(
        self, message: str, *, http_status: int | None = None, send_outcome: SendOutcome | None = None
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self._set_outcome(send_outcome)


class Sender25UnexpectedResponse(MailProviderError):
    """The body was not a Sender25 API envelope (HTML error page, empty, truncated or foreign JSON).

    :param http_status: the HTTP status of the response.
    :param body_excerpt: the first characters of the body, for the log.
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None,
        body_excerpt: str = "",
        send_outcome: SendOutcome | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.body_excerpt = body_excerpt
        self._set_outcome(send_outcome)


class XmailerReportError(MailProviderError):
    """The report endpoint answered an error instead of rows.

    :param message: the service's status text, e.g. ``STATUS: ERRO - FALTAM PARAMETROS``.
    :param code: the JSON ``codigo`` (``"207"`` …) or the equivalent for text answers.
    """

    def __init__(self, message: str, *, code: str | None = None) -> None:
        prefix = f"xmailer report error {code}" if code else "xmailer report error"
        super().__init__(f"{prefix}: {message}")
        self.code = code
        self.message = message


class XmailerMissingParameters(XmailerReportError, FatalMailProviderError):
    """A required report parameter was missing (``FALTAM PARAMETROS``, codigo 208)."""


class XmailerAuthError(XmailerReportError, FatalMailProviderError):
    """The SMTP user/password (or token) was refused (``FALHA DE AUTENTICACAO``, codigo 207)."""


class XmailerBadDate(XmailerReportError, FatalMailProviderError):
    """A window date was not ``YYYY-MM-DD`` (codigo 210)."""


class XmailerBadTime(XmailerReportError, FatalMailProviderError):
    """A window time was not ``HH:MM`` (codigo 211)."""


class XmailerReportParseError(MailProviderError):
    """A report line could not be parsed (raised only in ``strict`` mode).

    :param line_number: 1-based line (or row) number.
    :param line: the offending text, shortened.
    """

    def __init__(self, message: str, *, line_number: int, line: str) -> None:
        super().__init__(message)
        self.line_number = line_number
        self.line = line


class XmailerUnexpectedResponse(MailProviderError):
    """The report endpoint answered something that is not a report: an HTML page (a proxy's error
    page, a PHP fatal error) or a PHP error text, with HTTP 200. Usually passing: Airflow may retry.

    :param http_status: the HTTP status of the response, when the caller knows it.
    :param body_excerpt: the start of the body's text (tags dropped, secrets redacted), for the log.
    """

    def __init__(self, message: str, *, http_status: int | None = None, body_excerpt: str = "") -> None:
        super().__init__(message)
        self.http_status = http_status
        self.body_excerpt = body_excerpt


class XmailerTransportError(MailProviderError):
    """The report endpoint or the SMTP relay could not be reached or timed out (after the retries).

    What went out is set by the retry policy from the failure's class (unknown until then).

    :param http_status: the last HTTP status seen, if any.
    :param send_outcome: what went out, when the raiser knows it.
    """

    def __init__(
        self, message: str, *, http_status: int | None = None, send_outcome: SendOutcome | None = None
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self._set_outcome(send_outcome)


class XmailerConfigurationError(MailConfigurationError):
    """The xmailer connection is wrong: TLS verification failed, a redirect, a 404 at the report path.

    :param http_status: the HTTP status, when a response arrived.
    """

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


class XmailerSmtpError(MailProviderError):
    """The SMTP relay refused the transaction (code + text).

    :param smtp_code: the reply code, e.g. 535.
    :param smtp_text: the reply text.
    :param send_outcome: what went out, from the phase of the dialogue the reply came in (a refusal
        before or at the end of DATA queued nothing); unknown when not given.
    """

    def __init__(
        self,
        message: str,
        *,
        smtp_code: int | None = None,
        smtp_text: str = "",
        send_outcome: SendOutcome | None = None,
    ) -> None:
        super().__init__(message)
        self.smtp_code = smtp_code
        self.smtp_text = smtp_text
        self._set_outcome(send_outcome)


class XmailerSmtpRejected(XmailerSmtpError, FatalMailProviderError):
    """The relay refused for good (5xx) at MAIL, DATA or the end of DATA: nothing was queued."""

    send_outcome = NOTHING_WENT_OUT


class XmailerRecipientsDeferred(XmailerSmtpError):
    """No recipient was accepted and some were refused only for now (4xx at RCPT: a ``defer`` ACL,
    greylisting, a full queue). Nothing went out; a later try may reach them (not fatal).

    :param refused: recipient → the relay's reply.
    """

    send_outcome = NOTHING_WENT_OUT

    def __init__(self, message: str, *, refused: dict[str, str]) -> None:
        super().__init__(message)
        self.refused = dict(refused)


class XmailerSmtpAuthError(XmailerSmtpError, FatalMailProviderError):
    """The relay refused the SMTP credentials (or offers no AUTH over a protected channel).

    Raised before MAIL: nothing went out.
    """

    send_outcome = NOTHING_WENT_OUT


class XmailerRecipientsRefused(XmailerSmtpError, FatalMailProviderError):
    """Recipients were refused at RCPT; ``refused`` maps each to ``"code text"``.

    With ``accepted`` recipients the message went out to them (:attr:`WentOut.SOME`, with the queue id
    and the refusals); with none, nothing went out.

    :param refused: recipient → the relay's reply.
    :param accepted: the recipients the relay took (the message was queued for them).
    :param queue_id: the relay's queue id of the message sent to ``accepted``.
    :param message_id: the Message-ID.
    """

    def __init__(
        self,
        message: str,
        *,
        refused: dict[str, str],
        accepted: list[str] | tuple[str, ...] = (),
        queue_id: str | None = None,
        message_id: str | None = None,
    ) -> None:
        from airflow_provider_mail._transport.smtp_reply import parse_reply  # it imports this module

        super().__init__(message)
        self.refused = dict(refused)
        self.accepted = list(accepted)
        self.queue_id = queue_id
        self.send_outcome = SendOutcome(
            WentOut.SOME if self.accepted else WentOut.NOTHING,
            accepted=tuple(self.accepted),
            refused={rcpt: parse_reply(reply) for rcpt, reply in self.refused.items()},
            queue_id=queue_id,
            message_id=message_id,
        )


SENDER25_AUTH_CODES = frozenset({"AccessDenied", "InvalidServerAPIKey", "ServerSuspended"})
SENDER25_VALIDATION_CODES = frozenset(
    {
        "NoRecipients",
        "TooManyToAddresses",
        "TooManyCCAddresses",
        "TooManyBCCAddresses",
        "NoContent",
        "FromAddressMissing",
        "UnauthenticatedFromAddress",
        "AttachmentMissingName",
        "AttachmentMissingData",
        "ValidationError",
        # Client-side only: the server would accept these and misbehave later.
        "InvalidAddress",
        "HeaderInjection",
        "InvalidArgument",
    }
)


def sender25_error_from_envelope(data: Any, *, status: str, http_status: int | None) -> Sender25ApiError:
    """Build the named exception for an error envelope (``status`` ``error`` or ``parameter-error``).

    :param data: the envelope's ``data`` (any JSON; a dict is expected).
    :param status: the envelope's ``status`` word.
    :param http_status: the HTTP status code of the response.
    """
    payload = data if isinstance(data, dict) else {"data": data}
    message = payload.get("message") if isinstance(payload.get("message"), str) else None
    if status == "parameter-error":
        return Sender25ParameterError(message, data=payload, http_status=http_status)
    code = payload.get("code") if isinstance(payload.get("code"), str) else None
    error_class: type[Sender25ApiError] = Sender25ApiError
    if code in SENDER25_AUTH_CODES:
        error_class = Sender25AuthError
    elif code in SENDER25_VALIDATION_CODES:
        error_class = Sender25ValidationError
    elif code == "MessageNotFound":
        error_class = Sender25MessageNotFound
    return error_class(message, code=code, data=payload, http_status=http_status)


def redact_error_data(data: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of an error's ``data`` without secrets (Postal echoes the API key as ``token``).

    :param data: the error's ``data`` object.
    """
    redacted = dict(data)
    # Postal names the key it got ``token`` (InvalidServerAPIKey, AccessDenied…): never kept, whatever
    # the code; the rest of the answer is cleaned of the key by the hook before the error is built
    if "token" in redacted:
        redacted["token"] = REDACTED
    return redacted
