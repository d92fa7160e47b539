"""xmailer hooks: the delivery report (HTTP, streamed) and sending through the SMTP relay.

``XmailerReportHook.get_report`` streams rows as they arrive, so a report of a million lines never
sits in memory. ``XmailerSmtpHook`` drives the SMTP transaction itself to keep every RCPT reply and
the relay's queue id (``250 OK id=…``), which the report uses, so a send can be matched exactly.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

import httpx

from airflow_provider_mail._compat import BaseHook, get_async_connection, mask_secret
from airflow_provider_mail._transport.async_clients import request_slots, shared_async_client
from airflow_provider_mail._xmailer.connection import XmailerConnectionSettings, resolve_xmailer_settings
from airflow_provider_mail._xmailer.report_parser import ParseStats, ReportParser, ReportRow
from airflow_provider_mail._xmailer.report_window import ReportWindow
from airflow_provider_mail._xmailer.smtp_reply import extract_queue_id
from airflow_provider_mail.exceptions import (
    AmbiguousSendError,
    MailConfigurationError,
    MailValidationError,
    XmailerRecipientsRefused,
    XmailerSmtpAuthError,
    XmailerSmtpError,
    XmailerTransportError,
)

if TYPE_CHECKING:
    import requests

    from airflow_provider_mail._compat import Connection
    from airflow_provider_mail._shared.mime import BuiltMessage

STATUS_FILTERS = {
    "erro": "erro",
    "failed": "erro",
    "error": "erro",
    "sucesso": "sucesso",
    "delivered": "sucesso",
}
RETRYABLE_HTTP = frozenset({429, 500, 502, 503, 504})
CHUNK_SIZE = 64 * 1024


class _XmailerBaseHook(BaseHook):
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
        self._sleep: Callable[[float], None] = time.sleep

    @cached_property
    def conn(self) -> Connection:
        """The Airflow connection (fetched on first use)."""
        return self.get_connection(self.xmailer_conn_id)

    @cached_property
    def settings(self) -> XmailerConnectionSettings:
        """The validated connection settings."""
        settings = resolve_xmailer_settings(self.conn, max_retries=self._max_retries)
        mask_secret(settings.password)
        return settings

    async def aget_settings(self) -> XmailerConnectionSettings:
        """Fetch the connection without blocking the event loop, then validate it (cached)."""
        if "settings" not in self.__dict__:
            self.__dict__["conn"] = await get_async_connection(self.xmailer_conn_id)
        return self.settings


class XmailerReport:
    """A report request; iterate it to stream :class:`ReportRow` objects (once).

    After iteration, :attr:`stats` says how many rows were read and how many lines were malformed,
    and :attr:`outside_window` how many padded-window rows fell outside the exact window.
    """

    def __init__(self, hook: XmailerReportHook, params: dict[str, str], window: ReportWindow, strict: bool):
        self._hook = hook
        self._params = params
        self.window = window
        self.strict = strict
        self.stats = ParseStats()
        self.outside_window = 0
        self._consumed = False

    def __iter__(self) -> Iterator[ReportRow]:
        if self._consumed:
            raise RuntimeError("an XmailerReport streams once; call get_report() again to re-read it")
        self._consumed = True
        parser = ReportParser(self._hook.settings.timezone, strict=self.strict)
        self.stats = parser.stats
        import requests

        response = self._hook._open_report(self._params)
        try:
            for row in parser.parse(response.iter_content(CHUNK_SIZE)):
                if self.window.contains(row.delivered_at):
                    yield row
                else:
                    self.outside_window += 1
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as err:
            raise XmailerTransportError(
                f"the report stream broke after {parser.stats.rows} rows: {err!r}"
            ) from err
        finally:
            response.close()
        if parser.stats.malformed:
            self._hook.log.warning(
                "xmailer report: %d malformed line(s) skipped (first ones: %s)",
                parser.stats.malformed,
                parser.stats.samples,
            )


class XmailerReportHook(_XmailerBaseHook):
    """Read xmailer's delivery report with a connection of type ``xmailer``.

    ``login``/``password`` are the SMTP credentials (or ``password`` is the token with extra
    ``auth=token``); ``host`` defaults to ``api.xmailer.com.br``. Requests are POST forms, so the
    password never goes into a URL.

    :param xmailer_conn_id: the connection id (default ``xmailer_default``).
    :param max_retries: retries of the report request; overrides the extra.
    """

    # Airflow < 3.2 reads the form only from the registered class's own __dict__, never from a base.
    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the connection form, generated from ``_shared.fields``."""
        from airflow_provider_mail._shared.fields import connection_form_widgets

        return connection_form_widgets(cls.conn_type)

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden, relabelled and placeholder fields of the connection form."""
        from airflow_provider_mail._shared.fields import ui_field_behaviour

        return ui_field_behaviour(cls.conn_type)

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
        params = {**self._auth_params(), **window.query_params()}
        if status is not None:
            if status.lower() not in STATUS_FILTERS:
                raise MailValidationError(
                    f"`status` must be one of {sorted(STATUS_FILTERS)}, got {status!r}",
                    code="InvalidArgument",
                )
            params["status"] = STATUS_FILTERS[status.lower()]
        for name, value in (("emaildestino", recipient), ("remetente", sender), ("idMensagem", queue_id)):
            if value:
                params[name] = value
        return XmailerReport(self, params, window, strict)

    async def aiter_report(
        self, start: datetime | str, end: datetime | str, *, queue_id: str | None = None
    ) -> AsyncIterator[ReportRow]:
        """Async, streamed :meth:`get_report` over httpx (for triggers): one request, rows as they come.

        :param start: window start (aware datetime or ISO string).
        :param end: window end.
        :param queue_id: only this queue id (``idMensagem``).
        """
        settings = await self.aget_settings()
        window = ReportWindow.from_bounds(start, end, settings.timezone)
        params = {
            **self._auth_params(),
            **window.query_params(),
            **({"idMensagem": queue_id} if queue_id else {}),
        }
        parser = ReportParser(settings.timezone)
        client = shared_async_client(
            verify=settings.verify, timeout=settings.timeout, connect_timeout=settings.connect_timeout
        )
        # One streamed request; retried only before the first row arrives.
        for retry_number in range(settings.retry_policy.max_retries + 1):
            try:
                async with request_slots(), client.stream(**self._httpx_request(params)) as response:
                    if response.status_code in RETRYABLE_HTTP:
                        raise XmailerTransportError(
                            f"the report endpoint answered HTTP {response.status_code}"
                        )
                    if response.status_code >= 300:  # redirects and 4xx: retrying cannot help
                        raise MailConfigurationError(
                            f"the report endpoint answered HTTP {response.status_code}; check the host"
                        )
                    async for chunk in response.aiter_bytes(CHUNK_SIZE):
                        for row in parser.feed(chunk):
                            if window.contains(row.delivered_at):
                                yield row
                    for row in parser.close():
                        if window.contains(row.delivered_at):
                            yield row
                    return
            except (httpx.TransportError, XmailerTransportError) as err:
                if parser.stats.rows or retry_number == settings.retry_policy.max_retries:
                    raise XmailerTransportError(f"report request failed: {err!r}") from err
                wait = settings.retry_policy.delay(retry_number)
                self.log.warning("xmailer report: %r; retry %d in %.2f s", err, retry_number + 1, wait)
                await asyncio.sleep(wait)

    def _httpx_request(self, params: dict[str, str]) -> dict[str, Any]:
        settings = self.settings
        if settings.report_method == "get":
            return {"method": "GET", "url": settings.report_url, "params": params}
        return {"method": "POST", "url": settings.report_url, "data": params}

    def test_connection(self) -> tuple[bool, str]:
        """Ask for a one-minute report; never raises."""
        try:
            now = datetime.now(timezone.utc)
            for _ in self.get_report(now.replace(second=0, microsecond=0), now):
                pass
        except Exception as err:
            return False, f"{type(err).__name__}: {err}"
        return True, f"Report endpoint {self.settings.report_url} accepted the credentials."

    def _auth_params(self) -> dict[str, str]:
        settings = self.settings
        if settings.auth_mode == "token":
            return {"token_auth": settings.password}
        return {"usuario_smtp": settings.username, "senha_smtp": settings.password}

    @cached_property
    def session(self) -> requests.Session:
        """One pooled session for the hook's report requests."""
        import requests

        session = requests.Session()
        session.verify = self.settings.verify
        session.headers["User-Agent"] = "airflow-provider-mail"
        return session

    def _open_report(self, params: dict[str, str]) -> requests.Response:
        """Send the request, retrying connection failures, timeouts, 429 and 5xx; return the response."""
        import requests

        settings = self.settings
        policy = settings.retry_policy
        for retry_number in range(policy.max_retries + 1):
            try:
                response = self._send(params)
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as err:
                failure: Exception = XmailerTransportError(
                    f"report request to {settings.report_url} failed: {err!r}"
                )
            else:
                if 300 <= response.status_code < 400:
                    response.close()
                    raise MailConfigurationError(
                        f"the report endpoint answered HTTP {response.status_code} (redirect to "
                        f"{response.headers.get('Location')}); fix the connection's host/schema/report_path"
                    )
                if response.status_code not in RETRYABLE_HTTP:
                    if response.status_code >= 400:
                        response.close()
                        raise XmailerTransportError(
                            f"the report endpoint answered HTTP {response.status_code}"
                        )
                    return response
                response.close()
                failure = XmailerTransportError(f"the report endpoint answered HTTP {response.status_code}")
            if retry_number == policy.max_retries:
                raise failure
            wait = policy.delay(retry_number)
            self.log.warning("xmailer report: %s; retry %d in %.2f s", failure, retry_number + 1, wait)
            self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, params: dict[str, str]) -> requests.Response:
        settings = self.settings
        timeout = (settings.connect_timeout, settings.timeout)
        if settings.report_method == "get":
            return self.session.get(
                settings.report_url, params=params, timeout=timeout, stream=True, allow_redirects=False
            )
        return self.session.post(
            settings.report_url, data=params, timeout=timeout, stream=True, allow_redirects=False
        )


class XmailerSmtpHook(_XmailerBaseHook):
    """Send mail through the xmailer SMTP relay and keep its queue id.

    The transaction is driven step by step: TLS (STARTTLS or implicit), AUTH, MAIL, one RCPT per
    recipient with its reply kept, DATA as CRLF bytes. Connection failures before DATA are retried;
    once DATA was issued nothing is ever re-sent (:class:`AmbiguousSendError`).

    :param xmailer_conn_id: the connection id (default ``xmailer_default``).
    :param max_retries: retries of connection failures before DATA; overrides the extra.
    """

    def send(self, built: BuiltMessage, *, fail_on_refused: bool = False) -> dict[str, Any]:
        """Send a built message; return ``{"queue_id", "accepted", "refused", "sent_at", "message_id"}``.

        :param built: the message and its envelope, from
            :func:`~airflow_provider_mail._shared.mime.build_email_message`.
        :param fail_on_refused: raise :class:`XmailerRecipientsRefused` when any recipient is refused
            (the accepted ones were still sent).
        """
        data = built.as_bytes()
        policy = self.settings.retry_policy
        for retry_number in range(policy.max_retries + 1):
            try:
                client = self._connect()
            except (OSError, smtplib.SMTPConnectError, smtplib.SMTPServerDisconnected) as err:
                if retry_number == policy.max_retries:
                    raise XmailerTransportError(f"could not reach the SMTP relay: {err!r}") from err
                wait = policy.delay(retry_number)
                self.log.warning(
                    "xmailer SMTP connect failed (%r); retry %d in %.2f s", err, retry_number + 1, wait
                )
                self._sleep(wait)
                continue
            try:
                result = self._transaction(client, built, data)
            finally:
                _quit_quietly(client)
            break
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

    def test_connection(self) -> tuple[bool, str]:
        """Connect, negotiate TLS and authenticate; never raises."""
        try:
            _quit_quietly(self._connect())
        except Exception as err:
            return False, f"{type(err).__name__}: {err}"
        return True, f"SMTP relay {self.settings.smtp_host}:{self.settings.smtp_port} accepted the login."

    def _tls_context(self) -> ssl.SSLContext:
        settings = self.settings
        context = ssl.create_default_context(cafile=settings.smtp_ca_file)
        if not settings.smtp_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        timeout = settings.timeout
        if settings.smtp_tls == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.smtp_host, settings.smtp_port, timeout=timeout, context=self._tls_context()
            )
        else:
            client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
        try:
            client.ehlo()
            if settings.smtp_tls == "starttls":
                client.starttls(context=self._tls_context())
                client.ehlo()
            client.login(settings.username, settings.password)
        except smtplib.SMTPAuthenticationError as err:
            _quit_quietly(client)
            reply = f"{err.smtp_code} {_text(err.smtp_error)}"
            raise XmailerSmtpAuthError(
                f"the relay refused the login of {settings.username!r}: {reply}",
                smtp_code=err.smtp_code,
                smtp_text=_text(err.smtp_error),
            ) from None
        except smtplib.SMTPNotSupportedError as err:
            _quit_quietly(client)
            raise XmailerSmtpAuthError(f"the relay offers no AUTH on this channel: {err}") from None
        except BaseException:
            _quit_quietly(client)
            raise
        return client

    def _transaction(self, client: smtplib.SMTP, built: BuiltMessage, data: bytes) -> dict[str, Any]:
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
            return {
                "queue_id": None,
                "accepted": [],
                "refused": refused,
                "sent_at": None,
                "message_id": built.message_id,
                "mail_from": built.mail_from,
            }
        try:
            code, reply = client.data(data)
        except smtplib.SMTPDataError as err:  # DATA itself refused (not 354): nothing was transferred
            raise XmailerSmtpError(
                f"the relay refused DATA: {err.smtp_code} {_text(err.smtp_error)}",
                smtp_code=err.smtp_code,
                smtp_text=_text(err.smtp_error),
            ) from None
        except (OSError, smtplib.SMTPException) as err:
            raise AmbiguousSendError(
                f"the SMTP connection broke after DATA was sent ({err!r}): the relay may have queued message "
                f"{built.message_id} for {accepted}. It was NOT re-sent. Check the xmailer report for these "
                "recipients before sending again.",
                service="xmailer",
                recipients=accepted,
            ) from err
        if code != 250:  # smtplib returns the end-of-DATA reply instead of raising: 4xx/5xx = not queued
            raise XmailerSmtpError(
                f"the relay refused the message: {code} {_text(reply)}",
                smtp_code=code,
                smtp_text=_text(reply),
            )
        return {
            "queue_id": extract_queue_id(_text(reply)),
            "accepted": accepted,
            "refused": refused,
            "sent_at": datetime.now(timezone.utc).isoformat(),
            "message_id": built.message_id,
            "mail_from": built.mail_from,
        }


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _quit_quietly(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()
