"""xmailer hooks: the delivery report (HTTP, streamed) and sending through the SMTP relay.

``XmailerReportHook.get_report`` streams rows as they arrive, so a report of a million lines never
sits in memory. ``XmailerSmtpHook`` drives the SMTP transaction itself to keep every RCPT reply and
the relay's queue id (``250 OK id=…``), which the report uses, so a send can be matched exactly.
Both use the provider's one retry policy (:class:`~airflow_provider_mail._transport.retry.Attempts`).
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_mail._transport.failures import AttemptFailed, FailureKind, is_tls_verification_failure
from airflow_provider_mail._transport.http import HttpRequest
from airflow_provider_mail._transport.retry import Attempts, SendIdentity
from airflow_provider_mail._xmailer.connection import XmailerConnectionSettings, resolve_xmailer_settings
from airflow_provider_mail._xmailer.report_filter import ReportFilter
from airflow_provider_mail._xmailer.report_parser import ParseStats, ReportParser, ReportRow
from airflow_provider_mail._xmailer.report_request import STATUS_FILTERS, check_report_status, report_request
from airflow_provider_mail._xmailer.report_window import ReportWindow
from airflow_provider_mail._xmailer.smtp_reply import extract_queue_id
from airflow_provider_mail.exceptions import (
    XmailerConfigurationError,
    XmailerRecipientsRefused,
    XmailerSmtpAuthError,
    XmailerSmtpError,
    XmailerTransportError,
    XmailerUnexpectedResponse,
)
from airflow_provider_mail.hooks._base import (
    MailServiceHook,
    connection_form_widgets,
    connection_ui_field_behaviour,
)

if TYPE_CHECKING:
    from airflow_provider_mail._compat import Connection
    from airflow_provider_mail._shared.mime import BuiltMessage

__all__ = ["STATUS_FILTERS", "XmailerReport", "XmailerReportHook", "XmailerSmtpHook", "XmailerSmtpSession"]

#: Where a user finds out whether an ambiguous SMTP send was queued.
WHERE_TO_LOOK = (
    "look the message up in the xmailer report by sender, recipient and time (or by the Message-ID / "
    "X-Airflow-Trace header named above)"
)


class _XmailerBaseHook(MailServiceHook[XmailerConnectionSettings]):
    """Connection handling shared by the report and SMTP hooks."""

    conn_name_attr = "xmailer_conn_id"
    default_conn_name = "xmailer_default"
    conn_type = "xmailer"
    hook_name = "xmailer"

    transport_error = XmailerTransportError
    configuration_error = XmailerConfigurationError

    def __init__(
        self, xmailer_conn_id: str = default_conn_name, *, max_retries: int | None = None, **kwargs: Any
    ):
        super().__init__(**kwargs)
        self.xmailer_conn_id = xmailer_conn_id
        self._max_retries = max_retries

    def _resolve_settings(self, conn: Connection) -> XmailerConnectionSettings:
        return resolve_xmailer_settings(conn, max_retries=self._max_retries)

    def _secrets(self, settings: XmailerConnectionSettings) -> list[str]:
        return [settings.password]

    def _endpoint(self, settings: XmailerConnectionSettings) -> str:
        return settings.report_url

    def test_connection(self) -> tuple[bool, str]:
        """Check both halves of the connection without sending mail; never raises.

        The report endpoint is asked for a one-minute report; the relay gets connect, EHLO, TLS, AUTH
        and QUIT.
        """
        checks = [("report", _report_check), ("SMTP relay", _smtp_check)]
        results = []
        for name, check in checks:
            try:
                results.append((True, check(self.xmailer_conn_id)))
            except Exception as err:
                results.append((False, f"{name}: {type(err).__name__}: {self.redact(str(err))}"))
        return all(ok for ok, _ in results), "; ".join(text for _, text in results)


class XmailerReport:
    """A report request; iterate it to stream :class:`ReportRow` objects (once).

    After iteration, :attr:`stats` says how many rows were read and how many lines were malformed,
    and :attr:`outside_window` how many padded-window rows fell outside the exact window.
    """

    def __init__(
        self,
        hook: XmailerReportHook,
        request: HttpRequest,
        window: ReportWindow,
        strict: bool,
        row_filter: ReportFilter,
    ):
        self._hook = hook
        self._request = request
        self._filter = row_filter
        self.window = window
        self.strict = strict
        self.stats = ParseStats()
        self.outside_window = 0
        self._consumed = False

    def __iter__(self) -> Iterator[ReportRow]:
        if self._consumed:
            raise RuntimeError("an XmailerReport streams once; call get_report() again to re-read it")
        self._consumed = True
        for row in self._hook._stream_rows(self._request, self.strict, self._attach_stats):
            if not self.window.contains(row.delivered_at):
                self.outside_window += 1
            elif self._filter.matches(row):
                yield row
        if self.stats.malformed:
            self._hook.log.warning(
                "xmailer report: %d malformed line(s) skipped (first ones: %s)",
                self.stats.malformed,
                self.stats.samples,
            )

    def _attach_stats(self, parser: ReportParser) -> None:
        self.stats = parser.stats


class XmailerReportHook(_XmailerBaseHook):
    """Read xmailer's delivery report with a connection of type ``xmailer``.

    ``login``/``password`` are the SMTP credentials (or ``password`` is the token with extra
    ``auth=token``); ``host`` defaults to ``api.xmailer.com.br``. Requests are POST forms, so the
    password never goes into a URL.

    :param xmailer_conn_id: the connection id (default ``xmailer_default``).
    :param max_retries: retries of the report request; overrides the extra.
    """

    # Airflow < 3.2 reads the form only from the registered class's own __dict__, never from a base.
    get_connection_form_widgets = classmethod(connection_form_widgets)
    get_ui_field_behaviour = classmethod(connection_ui_field_behaviour)

    def get_report(
        self,
        start: datetime | str,
        end: datetime | str,
        *,
        status: str | None = None,
        recipient: str | None = None,
        sender: str | None = None,
        queue_id: str | None = None,
        strict: bool = False,
    ) -> XmailerReport:
        """Return the report of ``[start, end]`` as a stream of rows (validated before any request).

        :param start: aware datetime (stdlib or pendulum) or ISO 8601 string with an offset.
        :param end: same, after ``start``.
        :param status: ``"sucesso"``/``"delivered"`` or ``"erro"``/``"failed"`` to filter on the service.
        :param recipient: only rows to this address (``emaildestino``).
        :param sender: only rows from this address (``remetente``).
        :param queue_id: only this queue id (``idMensagem``, newer API).
        :param strict: raise on the first malformed line instead of counting it.
        """
        window = ReportWindow.from_bounds(start, end, self.settings.timezone)
        request = report_request(
            self.settings, window, status=status, recipient=recipient, sender=sender, queue_id=queue_id
        )
        row_filter = ReportFilter(queue_id=queue_id, recipient=recipient, sender=sender)
        return XmailerReport(self, request, window, strict, row_filter)

    async def aiter_report(
        self,
        start: datetime | str,
        end: datetime | str,
        *,
        queue_id: str | None = None,
        status: str | None = None,
    ) -> AsyncIterator[ReportRow]:
        """Async, streamed :meth:`get_report` over httpx (for triggers): one request, rows as they come.

        :param start: window start (aware datetime or ISO string).
        :param end: window end.
        :param queue_id: only this queue id (``idMensagem``).
        :param status: ``"erro"``/``"failed"`` or ``"sucesso"``/``"delivered"``: filtered by the service.
        """
        settings = await self.aget_settings()
        window = ReportWindow.from_bounds(start, end, settings.timezone)
        request = report_request(settings, window, queue_id=queue_id, status=status)
        wanted = ReportFilter(queue_id=queue_id)
        attempts = self._attempts()
        while True:
            parser = self._parser(strict=False)
            try:
                async with self._async_driver.stream(request) as stream:
                    check_report_status(stream.status, stream.headers, settings.report_url)
                    async for chunk in stream.chunks():
                        for row in parser.feed(chunk):
                            if window.contains(row.delivered_at) and wanted.matches(row):
                                yield row
                for row in parser.close():
                    if window.contains(row.delivered_at) and wanted.matches(row):
                        yield row
                return
            except (AttemptFailed, XmailerUnexpectedResponse) as failed:
                await self._asleep(self._wait_after(attempts, failed, parser))

    def _stream_rows(
        self, request: HttpRequest, strict: bool, on_parser: Callable[[ReportParser], None]
    ) -> Iterator[ReportRow]:
        """Stream the rows of ``request`` (sync), retried under the policy until the first row arrives."""
        attempts = self._attempts()
        while True:
            parser = self._parser(strict=strict)
            on_parser(parser)
            try:
                with self._driver.stream(request) as stream:
                    check_report_status(stream.status, stream.headers, self.settings.report_url)
                    yield from parser.parse(stream.chunks())
                return
            except (AttemptFailed, XmailerUnexpectedResponse) as failed:
                self._sleep(self._wait_after(attempts, failed, parser))

    def _attempts(self) -> Attempts:
        return Attempts(self.settings.retry_policy, f"xmailer report {self.settings.report_url}")

    def _parser(self, *, strict: bool) -> ReportParser:
        return ReportParser(self.settings.timezone, strict=strict, secrets=[self.settings.password])

    @staticmethod
    def _wait_after(
        attempts: Attempts, failed: AttemptFailed | XmailerUnexpectedResponse, parser: ReportParser
    ) -> float:
        """Rows already handed out cannot be taken back: once any arrived, a broken stream is final.

        An HTML page instead of a report (a proxy's error page) is retried like any unreadable answer.
        """
        if isinstance(failed, XmailerUnexpectedResponse):
            failed = AttemptFailed(FailureKind.MAYBE_SENT, failed)
        if parser.stats.rows:
            raise XmailerTransportError(
                f"the report stream broke after {parser.stats.rows} rows: {failed.error}"
            ) from failed.error
        return attempts.wait_after(failed)


class XmailerSmtpHook(_XmailerBaseHook):
    """Send mail through the xmailer SMTP relay and keep its queue id.

    The transaction is driven step by step: TLS (STARTTLS or implicit), AUTH, MAIL, one RCPT per
    recipient with its reply kept, DATA as CRLF bytes. A failure before DATA (refused connection, a
    relay that hangs up during MAIL or RCPT) means nothing was queued: the whole transaction is
    retried under the connection's policy. Once DATA was issued nothing is ever re-sent
    (:class:`AmbiguousSendError`).

    :param xmailer_conn_id: the connection id (default ``xmailer_default``).
    :param max_retries: retries of failures before DATA; overrides the extra.
    """

    def send(self, built: BuiltMessage, *, fail_on_refused: bool = False) -> dict[str, Any]:
        """Send a built message; return ``{"queue_id", "accepted", "refused", "sent_at", "message_id"}``.

        :param built: the message and its envelope, from
            :func:`~airflow_provider_mail._shared.mime.build_email_message`.
        :param fail_on_refused: raise :class:`XmailerRecipientsRefused` when any recipient is refused
            (the accepted ones were still sent).
        """
        return self._send(built, fail_on_refused, self._attempt)

    def smtp_session(self) -> XmailerSmtpSession:
        """An SMTP session that sends several messages over one connection (bulk senders).

        .. code-block:: python

            with hook.smtp_session() as session:
                for built in messages:
                    session.send(built)
        """
        return XmailerSmtpSession(self)

    def _send(
        self,
        built: BuiltMessage,
        fail_on_refused: bool,
        attempt: Callable[[BuiltMessage, bytes], dict[str, Any]],
    ) -> dict[str, Any]:
        data = built.as_bytes()
        send = SendIdentity("xmailer", f"SMTP to {self._relay}", list(built.recipients), WHERE_TO_LOOK)
        attempts = Attempts(self.settings.retry_policy, f"xmailer SMTP {self._relay}", send=send)
        while True:
            try:
                result = attempt(built, data)
                break
            except AttemptFailed as failed:
                self._sleep(attempts.wait_after(failed))
        if result["refused"] and (fail_on_refused or not result["accepted"]):
            raise XmailerRecipientsRefused(
                f"the relay refused {len(result['refused'])} recipient(s): {result['refused']}"
                + (
                    f"; sent to {result['accepted']} (queue id {result['queue_id']})"
                    if result["accepted"]
                    else ""
                ),
                refused=result["refused"],
            )
        return result

    @property
    def _relay(self) -> str:
        return f"{self.settings.smtp_host}:{self.settings.smtp_port}"

    def check_login(self) -> str:
        """Connect, negotiate TLS, authenticate and quit; return what was checked (raises on failure)."""
        try:
            _quit_quietly(self._connect())
        except AttemptFailed as failed:
            raise failed.error from None
        return f"SMTP relay {self._relay} accepted the login of {self.settings.username!r}"

    def _attempt(self, built: BuiltMessage, data: bytes) -> dict[str, Any]:
        client = self._connect()
        try:
            result = self._transaction(client, built, data)
        except BaseException:
            # interrupted (a failure, or Airflow's execution_timeout): drop the line, do not wait
            # for the relay to answer a polite QUIT
            client.close()
            raise
        _quit_quietly(client)
        return result

    def _failure(self, kind: FailureKind, text: str, err: BaseException) -> AttemptFailed:
        if is_tls_verification_failure(err):
            kind = FailureKind.CONFIGURATION
            text = (
                f"TLS verification of the relay {self._relay} failed ({err!r}); fix smtp_ca_file/smtp_verify"
            )
            text += " (nothing was sent)"
        return self.driver_settings.failure(kind, text)

    def _tls_context(self) -> ssl.SSLContext:
        settings = self.settings
        context = ssl.create_default_context(cafile=settings.smtp_ca_file)
        if not settings.smtp_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        try:
            if settings.smtp_tls == "ssl":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    settings.smtp_host,
                    settings.smtp_port,
                    timeout=settings.timeout,
                    context=self._tls_context(),
                )
            else:
                client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.timeout)
        except (OSError, smtplib.SMTPException) as err:
            raise self._failure(
                FailureKind.NEVER_SENT, f"could not reach the SMTP relay {self._relay}: {err!r}", err
            ) from err
        try:
            client.ehlo()
            if settings.smtp_tls == "starttls":
                client.starttls(context=self._tls_context())
                client.ehlo()
            client.login(settings.username, settings.password)
        except smtplib.SMTPAuthenticationError as err:
            _quit_quietly(client)
            text = self.redact(_text(err.smtp_error))
            raise XmailerSmtpAuthError(
                f"the relay refused the login of {settings.username!r}: {err.smtp_code} {text}",
                smtp_code=err.smtp_code,
                smtp_text=text,
            ) from None
        except smtplib.SMTPNotSupportedError as err:
            _quit_quietly(client)
            raise XmailerSmtpAuthError(f"the relay offers no AUTH on this channel: {err}") from None
        except (OSError, smtplib.SMTPException) as err:
            _quit_quietly(client)
            raise self._failure(
                FailureKind.NEVER_SENT, f"the SMTP relay {self._relay} hung up before MAIL: {err!r}", err
            ) from None
        return client

    def _transaction(self, client: smtplib.SMTP, built: BuiltMessage, data: bytes) -> dict[str, Any]:
        try:
            code, reply = client.mail(built.mail_from)
            if code != 250:
                raise XmailerSmtpError(
                    f"MAIL FROM refused: {code} {_text(reply)}", smtp_code=code, smtp_text=_text(reply)
                )
            accepted: list[str] = []
            refused: dict[str, str] = {}
            for recipient in built.recipients:
                code, reply = client.rcpt(recipient)
                if code in (250, 251):
                    accepted.append(recipient)
                else:
                    refused[recipient] = f"{code} {_text(reply)}"
            if not accepted:
                client.rset()
                return _result(built, None, [], refused, sent_at=None)
        except (OSError, smtplib.SMTPServerDisconnected) as err:  # before DATA: nothing was queued
            raise self._failure(
                FailureKind.NEVER_SENT, f"the SMTP relay {self._relay} hung up before DATA: {err!r}", err
            ) from err
        try:
            code, reply = client.data(data)
        except smtplib.SMTPDataError as err:  # DATA itself refused (not 354): nothing was transferred
            raise XmailerSmtpError(
                f"the relay refused DATA: {err.smtp_code} {_text(err.smtp_error)}",
                smtp_code=err.smtp_code,
                smtp_text=_text(err.smtp_error),
            ) from None
        except (OSError, smtplib.SMTPException) as err:
            raise self._failure(
                FailureKind.MAYBE_SENT,
                f"the SMTP connection broke after DATA was sent ({err!r}): the relay may have queued message "
                f"{built.message_id} for {accepted}",
                err,
            ) from err
        if code != 250:  # smtplib returns the end-of-DATA reply instead of raising: 4xx/5xx = not queued
            raise XmailerSmtpError(
                f"the relay refused the message: {code} {_text(reply)}",
                smtp_code=code,
                smtp_text=_text(reply),
            )
        queue_id = extract_queue_id(_text(reply))
        return _result(built, queue_id, accepted, refused, sent_at=datetime.now(timezone.utc).isoformat())


class XmailerSmtpSession:
    """One SMTP connection kept open for several messages: same transaction, retries and errors as
    :meth:`XmailerSmtpHook.send`, without a new connect, TLS handshake and AUTH per message.

    A connection the relay closed in between (idle timeout, a per-connection message limit) fails
    before DATA, which is retried on a new connection; after any failure the connection is dropped.
    Not thread-safe: one session per thread.

    :param hook: the SMTP hook (connection settings, retry policy).
    """

    def __init__(self, hook: XmailerSmtpHook) -> None:
        self.hook = hook
        self._client: smtplib.SMTP | None = None
        #: connections opened so far (1 for a session that never lost its connection)
        self.connections = 0

    def send(self, built: BuiltMessage, *, fail_on_refused: bool = False) -> dict[str, Any]:
        """Send a built message over the session's connection; see :meth:`XmailerSmtpHook.send`.

        :param built: the message and its envelope.
        :param fail_on_refused: raise when any recipient is refused.
        """
        return self.hook._send(built, fail_on_refused, self._attempt)

    def _attempt(self, built: BuiltMessage, data: bytes) -> dict[str, Any]:
        if self._client is None:
            self._client = self.hook._connect()
            self.connections += 1
        client = self._client
        try:
            return self.hook._transaction(client, built, data)
        except BaseException:
            self._client = None
            client.close()
            raise

    def close(self) -> None:
        """Say QUIT and close the connection (if open)."""
        if self._client is not None:
            client, self._client = self._client, None
            _quit_quietly(client)

    def __enter__(self) -> XmailerSmtpSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _result(
    built: BuiltMessage,
    queue_id: str | None,
    accepted: list[str],
    refused: dict[str, str],
    *,
    sent_at: str | None,
) -> dict[str, Any]:
    return {
        "queue_id": queue_id,
        "accepted": accepted,
        "refused": refused,
        "sent_at": sent_at,
        "message_id": built.message_id,
        "mail_from": built.mail_from,
    }


def _report_check(conn_id: str) -> str:
    hook = XmailerReportHook(xmailer_conn_id=conn_id)
    now = datetime.now(timezone.utc)
    for _ in hook.get_report(now.replace(second=0, microsecond=0), now):
        pass
    return f"report endpoint {hook.settings.report_url} accepted the credentials"


def _smtp_check(conn_id: str) -> str:
    return XmailerSmtpHook(xmailer_conn_id=conn_id).check_login()


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _quit_quietly(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()
