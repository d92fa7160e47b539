"""An embedded, independent emulator of xmailer — a Brazilian transactional-mail service: a
dedicated SMTP relay (Exim) plus an HTTP delivery report (``report.php``) — for tests, demos and
local DAG runs. xmailer has no sandbox, so this is where the client meets the service.

It is written from the service's reference notes (``xmailer.md``) and the seed contract, never
from this package's client, so it can catch the client's mistakes.

Example::

    import smtplib, ssl, requests
    from airflow_provider_mail.testing import XmailerEmulator

    with XmailerEmulator() as emu:
        with smtplib.SMTP(emu.smtp_host, emu.smtp_port) as smtp:
            smtp.starttls(context=ssl.create_default_context(cafile=emu.ca_cert_path))
            smtp.login(emu.username, emu.password)
            smtp.sendmail("app@example.com.br", ["ana+softfail@example.org"], b"Subject: Oi\\r\\n\\r\\nOla")
        emu.advance(5)                      # the clock drives deliveries: no sleeping
        day = time.strftime("%Y-%m-%d")     # (in America/Sao_Paulo)
        print(requests.post(emu.report_url, data={"usuario_smtp": emu.username,
              "senha_smtp": emu.password, "dataini": day, "horaini": "00:00",
              "datafim": day, "horafim": "23:59"}).text)
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from airflow_provider_mail.testing._clock import EmulatorClock
from airflow_provider_mail.testing._emulator import EmulatorBase
from airflow_provider_mail.testing._network import NetworkSettings
from airflow_provider_mail.testing._server import EmulatorServer

from .ids import QueueIdFactory
from .report import ReportSettings, XmailerReportService
from .smtp import RelayHandler, SmtpFaults, SmtpRelay, check_smtp_tls
from .store import DeliveryEvent, DeliveryTiming, ReceivedMessage, XmailerBackend
from .tls import RelayCertificate, certificate_directory, make_relay_certificate

_CONNECTION_TLS = {"starttls": "starttls", "implicit": "ssl", "none": "none"}
DEFAULT_USERNAME = "relay@example.com"
DEFAULT_PASSWORD = "smtp-secret"
DEFAULT_TOKEN = "report-token"


class XmailerEmulator(EmulatorBase):
    """An xmailer relay (SMTP) and delivery report (HTTP) on two loopback ports.

    :param host: interface both servers bind.
    :param smtp_port: the relay's TCP port; ``0`` picks a free one.
    :param http_port: the report endpoint's TCP port; ``0`` picks a free one.
    :param username: the SMTP AUTH user, also ``usuario_smtp`` of the report.
    :param password: its password, also ``senha_smtp``.
    :param token: the report's ``token_auth``.
    :param smtp_tls: ``starttls`` (587 style), ``implicit`` (465 style) or ``none``.
    :param report_format: ``text`` (the seed's ``;`` lines) or ``json`` (keyed rows).
    :param report_path: the report's path; ``/report/`` is answered too.
    :param report_encoding: ``utf-8`` or ``latin-1`` (the header still claims UTF-8).
    :param visibility_lag: emulator seconds before an event shows in the report.
    :param delivery_delay: emulator seconds from receipt to a recipient's first event.
    :param softfail_retry: emulator seconds from a ``+softfail`` 4xx event to its delivery.
    :param queue_id_style: ``exim``, ``exim497``, ``postfix`` or ``none`` (see
        :mod:`.xmailer_ids`).
    :param timezone: the report's time zone.
    :param latency: seconds every report answer, and the relay's greeting (the connect), each AUTH
        answer and each end-of-DATA reply, is held back (round-trip latency).
    :param latency_jitter: uniform spread (±) around ``latency``.
    :param rate_limit: report requests per second the front proxy lets through (token bucket);
        beyond it, HTTP 429 with ``Retry-After``. ``None`` = no limit. The relay is not limited.
    :param rate_limit_burst: the bucket size (default ``max(1, floor(rate_limit))``).
    :param smtp_max_messages_per_connection: Exim's ``smtp_accept_max_per_connection``: MAIL commands
        beyond it on one connection get ``421 too many messages in this connection`` (``0``, the
        default, means no limit; Exim's own default is 1000).

    The request log (:attr:`requests`) holds report requests only: ``params`` keeps every name
    but shows ``***`` for a non-empty ``senha_smtp`` / ``token_auth``; ``api_key_valid`` is the
    credential check (``None`` when parameters were missing), ``api_status`` is ``ok`` or
    ``erro`` and ``error_code`` the error's ``codigo`` (``207`` …), in both formats.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        smtp_port: int = 0,
        http_port: int = 0,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        token: str = DEFAULT_TOKEN,
        smtp_tls: str = "starttls",
        report_format: str = "text",
        report_path: str = "/http/report.php",
        report_encoding: str = "utf-8",
        visibility_lag: float = 0.5,
        delivery_delay: float = 1.0,
        softfail_retry: float = 2.0,
        queue_id_style: str = "exim",
        timezone: str = "America/Sao_Paulo",
        latency: float = 0.0,
        latency_jitter: float = 0.0,
        rate_limit: float | None = None,
        rate_limit_burst: int | None = None,
        smtp_max_messages_per_connection: int = 0,
    ):
        self._clock = EmulatorClock()
        self._backend = XmailerBackend(
            clock=self._clock,
            timing=DeliveryTiming(delivery_delay, softfail_retry),
            queue_ids=QueueIdFactory(queue_id_style),
        )
        settings = ReportSettings(
            username=username,
            password=password,
            token=token,
            report_path=report_path,
            report_format=report_format,
            report_encoding=report_encoding,
            visibility_lag=float(visibility_lag),
            timezone=ZoneInfo(timezone),
        )
        settings.check()
        self._smtp_faults = SmtpFaults()
        self._smtp_tls = check_smtp_tls(smtp_tls)
        self._certificate_dir: tempfile.TemporaryDirectory[str] | None = None
        self._certificate: RelayCertificate | None = None
        network = NetworkSettings(latency, latency_jitter, rate_limit, rate_limit_burst)
        self._service = XmailerReportService(self._backend, settings, self._smtp_faults, self._facts)
        self._http = EmulatorServer(self._service, self._clock, host=host, port=http_port, network=network)
        # The relay shares the report endpoint's latency setting (one network path to the service).
        self._relay_handler = RelayHandler(
            self._backend,
            self._smtp_faults,
            username,
            password,
            delay=self._http.network.delay,
            max_messages_per_connection=smtp_max_messages_per_connection,
        )
        self._smtp_host = host
        self._smtp_port = smtp_port
        self._relay: SmtpRelay | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> XmailerEmulator:
        """Start both servers in background threads (idempotent); returns ``self``.

        The first start writes the TLS certificate (:attr:`ca_cert_path`); a restart keeps the
        ports and the certificate.
        """
        if self._certificate is None:
            # Removed with the emulator object (or at exit), so a restart keeps the same files.
            self._certificate_dir = certificate_directory()
            self._certificate = make_relay_certificate(Path(self._certificate_dir.name), self._smtp_host)
            self._relay = SmtpRelay(
                self._relay_handler,
                host=self._smtp_host,
                port=self._smtp_port,
                tls_mode=self._smtp_tls,
                tls_context=self._certificate.server_context(),
            )
        assert self._relay is not None
        self._http.start()
        try:
            self._relay.start()
        except BaseException:
            self._http.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop both servers and release the ports (idempotent)."""
        if self._relay is not None:
            self._relay.stop()
        self._http.stop()

    # -- where to connect --------------------------------------------------------------------

    @property
    def smtp_host(self) -> str:
        """The relay's address."""
        return self._smtp_host

    @property
    def smtp_port(self) -> int:
        """The relay's port (``0`` until the first :meth:`start` when a free port was asked for)."""
        return self._relay.port if self._relay is not None else self._smtp_port

    @property
    def http_port(self) -> int:
        """The report endpoint's port (``0`` until the first :meth:`start` if picked freely)."""
        return self._http.port

    @property
    def report_url(self) -> str:
        """The report's full URL: :attr:`base_url` + :attr:`report_path`."""
        return self.base_url + self.report_path

    @property
    def ca_cert_path(self) -> str:
        """The PEM certificate that signed the relay's TLS certificate (trust it to verify).

        :raises RuntimeError: before the first :meth:`start`.
        """
        if self._certificate is None:
            raise RuntimeError("start the emulator first: the certificate is made at start")
        return str(self._certificate.ca_cert_path)

    @property
    def smtp_tls(self) -> str:
        """The relay's TLS mode: ``starttls``, ``implicit`` or ``none``."""
        return self._smtp_tls

    # -- settings ----------------------------------------------------------------------------

    @property
    def username(self) -> str:
        """The SMTP user (``usuario_smtp``)."""
        return self._service.settings.username

    @property
    def password(self) -> str:
        """The SMTP password (``senha_smtp``)."""
        return self._service.settings.password

    @property
    def token(self) -> str:
        """The report's ``token_auth``."""
        return self._service.settings.token

    @property
    def report_path(self) -> str:
        """The report's path (``/report/`` is answered as well)."""
        return self._service.settings.report_path

    @property
    def report_format(self) -> str:
        """``text`` or ``json``; settable while running."""
        return self._service.settings.report_format

    @report_format.setter
    def report_format(self, value: str) -> None:
        self._service.configure({"report_format": value})

    @property
    def report_encoding(self) -> str:
        """``utf-8`` or ``latin-1``; settable while running."""
        return self._service.settings.report_encoding

    @report_encoding.setter
    def report_encoding(self, value: str) -> None:
        self._service.configure({"report_encoding": value})

    @property
    def visibility_lag(self) -> float:
        """Emulator seconds before an event shows in the report; settable while running."""
        return self._service.settings.visibility_lag

    @visibility_lag.setter
    def visibility_lag(self, value: float) -> None:
        self._service.configure({"visibility_lag": value})

    @property
    def delivery_delay(self) -> float:
        """Emulator seconds from receipt to a recipient's first delivery event."""
        return self._backend.timing.delivery_delay

    @property
    def softfail_retry(self) -> float:
        """Emulator seconds from a ``+softfail`` recipient's 4xx event to its delivery."""
        return self._backend.timing.softfail_retry

    @property
    def queue_id_style(self) -> str:
        """``exim``, ``exim497``, ``postfix`` or ``none``."""
        return self._backend.queue_ids.style

    def airflow_connection(self, **extra: Any) -> str:
        """The JSON form of an Airflow connection to this emulator (``AIRFLOW_CONN_XMAILER_DEFAULT``).

        :param extra: more connection extras (e.g. a token setting); they override the defaults.
        :raises RuntimeError: before :meth:`start`.
        """
        if not self.http_port or not self.smtp_port:
            raise RuntimeError("start the emulator first: its ports are not known yet")
        connection = {
            "conn_type": "xmailer",
            "host": self._http.host,
            "port": self.http_port,
            "schema": "http",
            "login": self.username,
            "password": self.password,
            "extra": {
                "smtp_host": self.smtp_host,
                "smtp_port": self.smtp_port,
                "smtp_tls": _CONNECTION_TLS[self._smtp_tls],
                "smtp_ca_file": self.ca_cert_path,
                "report_path": self.report_path,
                **extra,
            },
        }
        return json.dumps(connection)

    # -- what happened -------------------------------------------------------------------------

    @property
    def messages(self) -> list[ReceivedMessage]:
        """Messages the relay queued, in receipt order."""
        return self._backend.messages()

    @property
    def deliveries(self) -> list[DeliveryEvent]:
        """Delivery events that have happened by :meth:`now`, oldest first (the report shows
        them :attr:`visibility_lag` later; injected report rows are not events)."""
        return self._backend.events(until=self._clock.now())

    # -- faults and report contents ------------------------------------------------------------

    def smtp_inject(self, name: str, count: int = 1) -> None:
        """Make the next ``count`` SMTP transactions meet an SMTP fault.

        ``drop_after_data`` (message queued, connection closed without a reply — the ambiguous
        send), ``drop_before_data`` (hang-up at RCPT), ``tempfail_data`` (451 at the end of DATA, not
        queued), ``reject_rcpt`` (550 for every RCPT), ``defer_rcpt`` (451 for every RCPT),
        ``rcpt_421_drop`` (421 at RCPT, then a hang-up), ``too_many_messages`` (421 at MAIL, the
        connection kept open), ``auth_fail`` (535 for every AUTH of the connection),
        ``auth_tempfail`` (454 for every AUTH of the connection).

        :param name: the fault name.
        :param count: how many transactions (connections for ``auth_fail``).
        """
        self._smtp_faults.push(name, count)

    def add_report_rows(self, rows: Iterable[dict[str, Any] | str]) -> None:
        """Append rows to every successful report from now on, whatever its window and filters.

        A dict uses the JSON keys (``msgid``, ``email_de``, ``email_para``, ``data``, ``hora``,
        ``status``): it is one ``;`` line in text mode (missing keys empty) and the row object
        as given in JSON mode. A string is a raw text line, or a string row in JSON mode.

        :param rows: the rows, in order.
        """
        self._backend.add_rows(rows)

    def serve_synthetic_report(self, lines: int, *, malformed_every: int = 0) -> None:
        """Answer the next valid report requests with ``lines`` generated rows, streamed.

        The body is generated while it is written (chunked transfer), in the current format and
        encoding; the rows sit in the middle half of the requested window, filters and the
        visibility lag are ignored, parameter checks still apply. ``0`` lines turns it off. See
        :func:`~.xmailer_rows.synthetic_chunks` for the rows and the malformed kinds.

        :param lines: rows per report.
        :param malformed_every: every n-th row malformed; ``0`` for none.
        """
        self._backend.serve_synthetic(lines, malformed_every)

    # -- time and reset ------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget messages, events, injected rows, the synthetic report, the request log, HTTP and
        SMTP faults and the clock offset; keep the ports, certificate and settings."""
        self._http.reset()

    def _facts(self) -> dict[str, Any]:
        return {
            "smtp_host": self.smtp_host,
            "smtp_port": self.smtp_port,
            "smtp_tls": self._smtp_tls,
            "ca_cert_path": str(self._certificate.ca_cert_path) if self._certificate else None,
            "report_url": self.report_url,
        }
