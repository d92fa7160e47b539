"""xmailer hooks: the delivery report (HTTP, streamed) and sending through the SMTP relay.

``XmailerReportHook.get_report`` streams rows as they arrive, so a report of a million lines never
sits in memory. ``XmailerSmtpHook`` drives the SMTP transaction itself to keep every RCPT reply and
the relay's queue id (``250 OK id=…``), which the report uses, so a send can be matched exactly.
Both use the provider's one retry policy (:class:`~airflow_provider_mail._transport.retry.Attempts`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_mail._transport.failures import AttemptFailed, FailureKind
from airflow_provider_mail._transport.http import HttpRequest
from airflow_provider_mail._transport.retry import Attempts, SendIdentity
from airflow_provider_mail._transport.smtp_driver import (
    Envelope,
    SmtpConnection,
    SmtpDriver,
    SmtpSettings,
    quit_quietly,
)
from airflow_provider_mail._xmailer.connection import XmailerConnectionSettings, resolve_xmailer_settings
from airflow_provider_mail._xmailer.report_filter import ReportFilter
from airflow_provider_mail._xmailer.report_parser import ParseStats, ReportParser, ReportRow
from airflow_provider_mail._xmailer.report_request import STATUS_FILTERS, check_report_status, report_request
from airflow_provider_mail._xmailer.report_window import ReportWindow
from airflow_provider_mail._xmailer.smtp_reply import extract_queue_id
from airflow_provider_mail.exceptions import (
    XmailerConfigurationError,
    XmailerRecipientsRefused,
    XmailerTransportError,
    XmailerUnexpectedResponse,
)
from airflow_provider_mail.hooks._base import (
    HttpServiceHook,
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


class XmailerReportHook(HttpServiceHook[XmailerConnectionSettings], _XmailerBaseHook):
    """Read xmailer's delivery report with a connection of type ``xmailer``.

    ``login``/``password`` are the SMTP credentials (or ``password`` is the token with extra
    ``auth=token``); ``host`` defaults to ``api.xmailer.com.br``. Requests are POST forms, so the
    password stays out of the URL, unless the extra ``report_method=get`` asks for a GET.

    :param xmailer_conn_id: the connection id (default ``xmailer_default``).
    :param max_retries: retries of the report request; overrides the extra.
    """

    # Airflow < 3.2 reads the form only from the registered class's own __dict__, never from a base.
    get_connection_form_widgets = classmethod(connection_form_widgets)
    get_ui_field_behaviour = classmethod(connection_ui_field_behaviour)

    transport_error = XmailerTransportError
    configuration_error = XmailerConfigurationError

    def _endpoint(self, settings: XmailerConnectionSettings) -> str:
        return settings.report_url

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

    The transaction is driven step by step (:mod:`~airflow_provider_mail._transport.smtp_driver`):
    TLS (STARTTLS or implicit), AUTH, MAIL, one RCPT per recipient with its reply kept, DATA as CRLF
    bytes. Every reply is read by the phase it came in: before the end of DATA nothing is queued, so a
    refusal for now (4xx, ``421``) or a hang-up there is tried again under the connection's policy;
    once the message's final dot was sent without an answer nothing is ever re-sent
    (:class:`AmbiguousSendError`). Every error says what went out
    (:func:`~airflow_provider_mail.exceptions.send_outcome_of`).

    Like Airflow's ``SmtpHook``, a ``with`` block keeps one SMTP connection for every send in it:

    .. code-block:: python

        with XmailerSmtpHook() as hook:
            for built in messages:
                hook.send(built)

    Outside a ``with`` block each :meth:`send` opens and closes its own connection.

    :param xmailer_conn_id: the connection id (default ``xmailer_default``).
    :param max_retries: retries of failures before the end of DATA; overrides the extra.
    """

    def __init__(
        self,
        xmailer_conn_id: str = _XmailerBaseHook.default_conn_name,
        *,
        max_retries: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(xmailer_conn_id, max_retries=max_retries, **kwargs)
        self._kept: XmailerSmtpSession | None = None

    @cached_property
    def smtp_driver(self) -> SmtpDriver:
        """The SMTP driver of this connection (no network until a send)."""
        settings = self.settings
        return SmtpDriver(
            SmtpSettings(
                host=settings.smtp_host,
                port=settings.smtp_port,
                tls=settings.smtp_tls,
                timeout=settings.timeout,
                username=settings.username,
                password=settings.password,
                ca_file=settings.smtp_ca_file,
                verify=settings.smtp_verify,
                redact=self.redact,
            )
        )

    def send(self, built: BuiltMessage, *, fail_on_refused: bool = False) -> dict[str, Any]:
        """Send a built message; return ``{"queue_id", "accepted", "refused", "sent_at", "message_id"}``.

        Inside ``with hook:`` the hook's one connection carries it; otherwise a connection is opened and
        closed for it.

        :param built: the message and its envelope, from
            :func:`~airflow_provider_mail._shared.mime.build_email_message`.
        :param fail_on_refused: raise :class:`XmailerRecipientsRefused` when any recipient is refused
            (the accepted ones were still sent; the error keeps their queue id).
        """
        if self._kept is not None:
            return self._kept.send(built, fail_on_refused=fail_on_refused)
        with self.smtp_session() as session:
            return session.send(built, fail_on_refused=fail_on_refused)

    def send_message(
        self,
        *,
        to: str | Iterable[str] | None,
        from_email: str,
        subject: str | None = None,
        plain_body: str | None = None,
        html_body: str | None = None,
        cc: str | Iterable[str] | None = None,
        bcc: str | Iterable[str] | None = None,
        sender: str | None = None,
        reply_to: str | None = None,
        headers: Mapping[str, Any] | None = None,
        attachments: Iterable[Any] | None = None,
        fail_on_refused: bool = False,
    ) -> dict[str, Any]:
        """Build and send a message from the arguments every sender of this package takes (as
        ``Sender25Hook.send_message``); return :class:`~airflow_provider_mail.xcom.XmailerSendResult`.

        :param to: recipients, a list or a comma/semicolon separated string.
        :param from_email: the From address.
        :param subject: the subject.
        :param plain_body: the text body.
        :param html_body: the HTML body.
        :param cc: Cc recipients.
        :param bcc: Bcc recipients.
        :param sender: the Sender header.
        :param reply_to: the Reply-To address.
        :param headers: extra headers.
        :param attachments: :class:`~airflow_provider_mail.attachments.Attachment` objects or
            ``(name, data, content_type)`` tuples.
        :param fail_on_refused: raise when any recipient is refused (the accepted ones were still sent).
        """
        from airflow_provider_mail._shared.mime import build_email_message

        built = build_email_message(
            to=to,
            from_email=from_email,
            subject=subject,
            plain_body=plain_body,
            html_body=html_body,
            cc=cc,
            bcc=bcc,
            sender=sender,
            reply_to=reply_to,
            headers=headers,
            attachments=attachments or (),
        )
        return self.send(built, fail_on_refused=fail_on_refused)

    def smtp_session(self) -> XmailerSmtpSession:
        """A new SMTP session of its own (one per thread: bulk senders open one per worker).

        .. code-block:: python

            with hook.smtp_session() as session:
                for built in messages:
                    session.send(built)
        """
        return XmailerSmtpSession(self)

    def get_conn(self) -> XmailerSmtpSession:
        """The hook's kept SMTP session, connected and authenticated; closed by :meth:`close`."""
        if self._kept is None:
            self._kept = self.smtp_session()
        self._kept.open()
        return self._kept

    def __enter__(self) -> XmailerSmtpHook:
        if self._kept is None:
            self._kept = self.smtp_session()  # connects at the first send
        return self

    def close(self) -> None:
        """Say QUIT on the kept connection, if any."""
        kept, self._kept = self._kept, None
        if kept is not None:
            kept.close()

    def _send(self, built: BuiltMessage, fail_on_refused: bool, connection: SmtpConnection) -> dict[str, Any]:
        envelope = Envelope(built.mail_from, list(built.recipients), built.as_bytes(), built.message_id)
        send = SendIdentity(
            "xmailer", f"SMTP to {self._relay}", list(built.recipients), WHERE_TO_LOOK, built.message_id
        )
        attempts = Attempts(self.settings.retry_policy, f"xmailer SMTP {self._relay}", send=send)
        while True:
            try:
                delivery = connection.deliver(envelope)
                break
            except AttemptFailed as failed:
                self._sleep(attempts.wait_after(failed))
        queued = delivery.end_reply is not None
        queue_id = extract_queue_id(delivery.end_reply) if delivery.end_reply is not None else None
        result = _result(
            built,
            queue_id,
            delivery.accepted,
            delivery.refused,
            sent_at=datetime.now(timezone.utc).isoformat() if queued else None,
        )
        if delivery.refused and (fail_on_refused or not delivery.accepted):
            raise XmailerRecipientsRefused(
                f"the relay refused {len(delivery.refused)} recipient(s): {delivery.refused}"
                + (f"; sent to {delivery.accepted} (queue id {queue_id})" if delivery.accepted else ""),
                refused=delivery.refused,
                accepted=delivery.accepted,
                queue_id=queue_id,
                message_id=built.message_id,
            )
        return result

    @property
    def _relay(self) -> str:
        return f"{self.settings.smtp_host}:{self.settings.smtp_port}"

    def check_login(self) -> str:
        """Connect, negotiate TLS, authenticate and quit; return what was checked (raises on failure)."""
        try:
            quit_quietly(self.smtp_driver.connect())
        except AttemptFailed as failed:
            raise failed.error from None
        return f"SMTP relay {self._relay} accepted the login of {self.settings.username!r}"


class XmailerSmtpSession:
    """One SMTP connection kept open for several messages: same transaction, retries and errors as
    :meth:`XmailerSmtpHook.send`, without a new connect, TLS handshake and AUTH per message.

    A connection the relay closed in between (idle timeout, a per-connection message limit) is
    replaced at once; after any other failure the connection is dropped. Not thread-safe: one session
    per thread.

    :param hook: the SMTP hook (connection settings, retry policy).
    """

    def __init__(self, hook: XmailerSmtpHook) -> None:
        self.hook = hook
        self._connection = SmtpConnection(hook.smtp_driver)

    @property
    def connections(self) -> int:
        """Connections opened so far (1 for a session that never lost its connection)."""
        return self._connection.connections

    def open(self) -> None:
        """Connect and authenticate now (otherwise the first send does)."""
        try:
            self._connection.open()
        except AttemptFailed as failed:
            raise failed.error from None

    def send(self, built: BuiltMessage, *, fail_on_refused: bool = False) -> dict[str, Any]:
        """Send a built message over the session's connection; see :meth:`XmailerSmtpHook.send`.

        :param built: the message and its envelope.
        :param fail_on_refused: raise when any recipient is refused.
        """
        return self.hook._send(built, fail_on_refused, self._connection)

    def close(self) -> None:
        """Say QUIT and close the connection (if open)."""
        self._connection.close()

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
