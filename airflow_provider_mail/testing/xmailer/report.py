"""The emulated delivery report endpoint (``report.php``): parameters, checks, answers.

A request goes through the stages of the seed's contract, in this order:

1. parameters — PHP's ``$_REQUEST``: the query string, overridden by a POST form body
   (urlencoded or multipart); the last of repeated names wins;
2. required parameters — ``usuario_smtp`` + ``senha_smtp`` (or a ``token_auth`` alone) and the
   four window fields; an empty value counts as missing → ``FALTAM PARAMETROS`` (208);
3. authentication → ``FALHA DE AUTENTICACAO`` (207);
4. both dates ``YYYY-MM-DD`` (a real calendar day) → ``DATA COM FORMATO INCORRETO`` (210);
5. both times ``HH:MM`` (00:00 to 23:59) → ``HORA COM FORMATO INCORRETO`` (211);
6. the rows (:mod:`.xmailer_rows`), or the synthetic report when one is set.

Every answer is HTTP 200 ``text/html; charset=UTF-8`` (PHP's default header, even for JSON and
even when the body is Latin-1: the client must decide from the body). The request log keeps the
parameter names but never the values of ``senha_smtp`` and ``token_auth``.
"""

from __future__ import annotations

import dataclasses
import datetime
import email
import re
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from airflow_provider_mail.testing._http import AppOutcome, HttpRequest, HttpResponse
from airflow_provider_mail.testing._server import admin_json

from .rows import ReportQuery, php_json, render_report, select_rows, synthetic_chunks
from .smtp import SmtpFaults
from .store import XmailerBackend

REPORT_FORMATS = ("text", "json")
REPORT_ENCODINGS = ("utf-8", "latin-1")
NEWER_REPORT_PATH = "/report/"
CONTENT_TYPE = "text/html; charset=UTF-8"
SECRET_PARAMS = ("senha_smtp", "token_auth")
REDACTED = "***"
WINDOW_PARAMS = ("dataini", "horaini", "datafim", "horafim")

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"\d{2}:\d{2}")

_APACHE_404 = (
    b'<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n<title>404 Not Found</title>\n'
    b"</head><body>\n<h1>Not Found</h1>\n<p>The requested URL was not found on this server.</p>\n"
    b"</body></html>\n"
)


class ReportError(Exception):
    """A refused report request.

    :param code: the JSON variant's ``codigo``.
    :param message: what follows ``ERRO`` in both variants.
    """

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def text(self) -> str:
        """The text variant: ``STATUS: ERRO - <message>``."""
        return f"STATUS: ERRO - {self.message}"

    @property
    def json(self) -> str:
        """The JSON variant: ``{"0":{"status":"ERRO: <message>","codigo":"<code>"}}``."""
        return php_json({"0": {"status": f"ERRO: {self.message}", "codigo": self.code}})


# (codigo, message) of the four documented errors; the JSON texts follow the one the docs show.
MISSING_PARAMETERS = ("208", "FALTAM PARAMETROS")
AUTHENTICATION_FAILED = ("207", "FALHA DE AUTENTICACAO")
BAD_DATE = ("210", "DATA COM FORMATO INCORRETO - formato deve ser YYYY-MM-DD")
BAD_TIME = ("211", "HORA COM FORMATO INCORRETO - formato deve ser HH:MM")


@dataclass
class ReportSettings:
    """The endpoint's settings; the mutable ones may change while it runs.

    :param username: the SMTP user (``usuario_smtp``).
    :param password: its password (``senha_smtp``).
    :param token: the ``token_auth`` value.
    :param report_path: the seed's path; :data:`NEWER_REPORT_PATH` is answered as well.
    :param report_format: ``text`` or ``json``.
    :param report_encoding: ``utf-8`` or ``latin-1``.
    :param visibility_lag: seconds before an event shows in the report.
    :param timezone: the report's time zone.
    """

    username: str
    password: str
    token: str
    report_path: str
    report_format: str
    report_encoding: str
    visibility_lag: float
    timezone: ZoneInfo

    def check(self) -> None:
        """Validate the settings.

        :raises ValueError: naming the setting and its allowed values.
        """
        if self.report_format not in REPORT_FORMATS:
            raise ValueError(f"report_format must be one of {REPORT_FORMATS}, got {self.report_format!r}")
        if self.report_encoding not in REPORT_ENCODINGS:
            raise ValueError(
                f"report_encoding must be one of {REPORT_ENCODINGS}, got {self.report_encoding!r}"
            )
        if self.visibility_lag < 0:
            raise ValueError("visibility_lag must not be negative")
        if not self.report_path.startswith("/"):
            raise ValueError(f"report_path must start with '/', got {self.report_path!r}")


class XmailerReportService:
    """The :class:`~._server.Application` serving the report endpoint and the admin routes.

    :param backend: the relay's state.
    :param settings: the endpoint's settings.
    :param smtp_faults: the relay's pending SMTP faults (driven from the admin interface).
    :param facts: extra facts for ``GET /_emulator/health`` (ports, certificate …).
    """

    def __init__(
        self,
        backend: XmailerBackend,
        settings: ReportSettings,
        smtp_faults: SmtpFaults,
        facts: Callable[[], dict[str, Any]],
    ):
        self.backend = backend
        self.settings = settings
        self.smtp_faults = smtp_faults
        self._facts = facts

    # -- the report ------------------------------------------------------------------------

    def handle(self, request: HttpRequest) -> AppOutcome:
        """Answer one request to the report endpoint (or a 404 page elsewhere).

        :param request: the request.
        """
        if request.path not in (self.settings.report_path, NEWER_REPORT_PATH):
            return AppOutcome(
                HttpResponse(404, (("Content-Type", "text/html; charset=iso-8859-1"),), _APACHE_404)
            )
        params = request_params(request)
        recorded = {
            key: (REDACTED if key in SECRET_PARAMS and value else value) for key, value in params.items()
        }
        authenticated: bool | None = None
        try:
            authenticated = self._authenticate(params)
            if not authenticated:
                raise ReportError(*AUTHENTICATION_FAILED)
            query = parse_query(params)
        except ReportError as error:
            body = error.json if self.settings.report_format == "json" else error.text
            response = self._response(body)
            return AppOutcome(response, recorded, authenticated, api_status="erro", error_code=error.code)
        return AppOutcome(self._report(query), recorded, True, api_status="ok")

    def _authenticate(self, params: dict[str, str]) -> bool:
        token = params.get("token_auth", "")
        required = ("token_auth",) if token else ("usuario_smtp", "senha_smtp")
        if any(not params.get(name) for name in (*required, *WINDOW_PARAMS)):
            raise ReportError(*MISSING_PARAMETERS)
        if token:
            return token == self.settings.token
        credentials = (params["usuario_smtp"], params["senha_smtp"])
        return credentials == (self.settings.username, self.settings.password)

    def _report(self, query: ReportQuery) -> HttpResponse:
        settings = self.settings
        synthetic = self.backend.synthetic
        if synthetic is not None:
            chunks = synthetic_chunks(
                synthetic, settings.report_format, settings.report_encoding, settings.timezone, query
            )
            return HttpResponse(200, (("Content-Type", CONTENT_TYPE),), stream=chunks)
        visible = self.backend.events(until=self.backend.clock.now() - settings.visibility_lag)
        rows = select_rows(visible, query, settings.timezone)
        return self._response(render_report(rows, self.backend.extra_rows(), settings.report_format))

    def _response(self, body: str) -> HttpResponse:
        encoded = body.encode(self.settings.report_encoding, "replace")
        return HttpResponse(200, (("Content-Type", CONTENT_TYPE),), encoded)

    # -- Application protocol: admin, reset, describe ---------------------------------------

    def handle_admin(self, request: HttpRequest, route: str) -> HttpResponse | None:
        """Serve the xmailer admin routes under ``/_emulator/``.

        ``GET messages`` · ``GET deliveries`` · ``GET|POST smtp-faults`` (``{"name", "count"}``)
        · ``POST report-rows`` (``{"rows": [...]}``) · ``POST synthetic-report`` (``{"lines",
        "malformed_every"}``) · ``POST config`` (``report_format``, ``report_encoding``,
        ``visibility_lag``).

        :param request: the admin request.
        :param route: the path after ``/_emulator/``.
        """
        endpoint = (request.method, route.strip("/"))
        if endpoint == ("GET", "messages"):
            return HttpResponse.json(200, [message.summary() for message in self.backend.messages()])
        if endpoint == ("GET", "deliveries"):
            events = self.backend.events(until=self.backend.clock.now())
            return HttpResponse.json(200, [event.as_dict() for event in events])
        if endpoint == ("GET", "smtp-faults"):
            return HttpResponse.json(200, self.smtp_faults.pending())
        if endpoint == ("POST", "smtp-faults"):
            spec = admin_json(request)
            self.smtp_faults.push(str(spec["name"]), int(spec.get("count", 1)))
            return HttpResponse.json(200, self.smtp_faults.pending())
        if endpoint == ("POST", "report-rows"):
            self.backend.add_rows(admin_json(request)["rows"])
            return HttpResponse.json(200, {"rows": len(self.backend.extra_rows())})
        if endpoint == ("POST", "synthetic-report"):
            spec = admin_json(request)
            self.backend.serve_synthetic(int(spec["lines"]), int(spec.get("malformed_every", 0)))
            return HttpResponse.json(200, {"lines": int(spec["lines"])})
        if endpoint == ("POST", "config"):
            self.configure(admin_json(request))
            return HttpResponse.json(200, self.describe())
        return None

    def configure(self, changes: dict[str, Any]) -> None:
        """Change ``report_format``, ``report_encoding`` and/or ``visibility_lag``.

        :param changes: the new values by name.
        :raises ValueError: for an unknown name or a bad value (nothing is changed then).
        """
        unknown = set(changes) - {"report_format", "report_encoding", "visibility_lag"}
        if unknown:
            raise ValueError(f"cannot configure {sorted(unknown)}")
        if "visibility_lag" in changes:
            changes = {**changes, "visibility_lag": float(changes["visibility_lag"])}
        candidate = dataclasses.replace(self.settings, **changes)
        candidate.check()
        self.settings = candidate

    def reset(self) -> None:
        """Forget messages, events, injected rows, the synthetic report and SMTP faults."""
        self.backend.reset()
        self.smtp_faults.clear()

    def describe(self) -> dict[str, Any]:
        """Facts for ``GET /_emulator/health``."""
        settings = self.settings
        return {
            "service": "xmailer",
            "report_path": settings.report_path,
            "report_format": settings.report_format,
            "report_encoding": settings.report_encoding,
            "visibility_lag": settings.visibility_lag,
            "timezone": settings.timezone.key,
            "queue_id_style": self.backend.queue_ids.style,
            **self._facts(),
        }


def request_params(request: HttpRequest) -> dict[str, str]:
    """PHP's ``$_REQUEST``: query parameters, overridden by a POST form body.

    :param request: the request.
    """
    params = dict(parse_qsl(request.query, keep_blank_values=True))
    if request.method == "POST":
        params.update(_form_fields(request))
    return params


def parse_query(params: dict[str, str]) -> ReportQuery:
    """Validate the window and filters of an authenticated request.

    :param params: the request parameters.
    :raises ReportError: ``BAD_DATE`` or ``BAD_TIME``, dates checked first.
    """
    start_day, end_day = _date(params["dataini"]), _date(params["datafim"])
    start_time, end_time = _time(params["horaini"]), _time(params["horafim"])
    status = params.get("status", "").strip().lower()
    return ReportQuery(
        start=datetime.datetime.combine(start_day, start_time),
        end=datetime.datetime.combine(end_day, end_time.replace(second=59)),
        status=status if status in ("erro", "sucesso") else None,
        recipient=params.get("emaildestino") or None,
        sender=params.get("remetente") or None,
        queue_id=params.get("idMensagem") or None,
    )


def _date(value: str) -> datetime.date:
    if not _DATE.fullmatch(value):
        raise ReportError(*BAD_DATE)
    try:
        return datetime.date(int(value[:4]), int(value[5:7]), int(value[8:]))
    except ValueError:
        raise ReportError(*BAD_DATE) from None


def _time(value: str) -> datetime.time:
    if not _TIME.fullmatch(value):
        raise ReportError(*BAD_TIME)
    try:
        return datetime.time(int(value[:2]), int(value[3:]))
    except ValueError:
        raise ReportError(*BAD_TIME) from None


def _form_fields(request: HttpRequest) -> dict[str, str]:
    content_type = request.content_type or ""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
    if media_type == "multipart/form-data":
        head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
        form = email.message_from_bytes(head + request.body, policy=policy.HTTP)
        fields: dict[str, str] = {}
        for part in form.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if isinstance(name, str):
                payload = part.get_payload(decode=True)
                fields[name] = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
        return fields
    return {}
