"""Parse xmailer delivery reports incrementally: `;` text lines or keyed JSON rows, detected from the body.

Feed the body in chunks (:meth:`ReportParser.feed`) and rows come out as soon as they are complete, so
a report of a million lines never sits in memory whole. Error answers (``STATUS: ERRO - …`` lines, JSON
``codigo`` rows) raise their named exception. A malformed line is counted and kept as a sample, and
raises :class:`~airflow_provider_mail.exceptions.XmailerReportParseError` in ``strict`` mode; it is
never silently dropped.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from enum import Enum
from typing import Any, NamedTuple

from airflow_provider_mail._xmailer.exim import parse_queue_id
from airflow_provider_mail.exceptions import (
    XmailerAuthError,
    XmailerBadDate,
    XmailerBadTime,
    XmailerMissingParameters,
    XmailerReportError,
    XmailerReportParseError,
)

DELIVERED_TEXTS = ("entregue",)
_SMTP_REPLY = re.compile(r"^\s*(?P<code>[245]\d\d)(?:[\s-]+(?P<enhanced>[245]\.\d{1,3}\.\d{1,3}))?\b")
_DEFERRED_WORDS = re.compile(r"adiad|defer|tempor|greylist|try again|tente novamente", re.IGNORECASE)
_FAILED_WORDS = re.compile(
    r"n[ãa]o entregue|falha|erro|bounce|rejeit|recusad|inexistente|caixa cheia|inv[áa]lid"
    r"|failed|rejected|unknown",
    re.IGNORECASE,
)
_JSON_ROW_KEYS = ("msgid", "email_de", "email_para", "data", "hora", "status")
MAX_SAMPLES = 5


class Outcome(str, Enum):
    """Classified result of a report row."""

    DELIVERED = "delivered"
    DEFERRED = "deferred"
    FAILED = "failed"
    UNKNOWN = "unknown"


class ReportRow(NamedTuple):
    """One line of the report: one recipient of one queued message (a tuple: cheap by the million).

    :param queue_id: the relay's queue id (Exim format, normally).
    :param sender: the envelope sender.
    :param recipient: the recipient.
    :param delivered_at: when the event happened, aware, in the service's time zone.
    :param status_text: the raw status text (``Entregue com sucesso`` or the remote SMTP reply).
    :param outcome: the classified outcome.
    :param smtp_code: the SMTP reply code found in the status text, if any.
    :param enhanced_code: the enhanced status code (``5.1.1``), if any.
    """

    queue_id: str
    sender: str
    recipient: str
    delivered_at: datetime
    status_text: str
    outcome: Outcome
    smtp_code: int | None = None
    enhanced_code: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The row as plain JSON values (ISO 8601 time)."""
        return {
            "queue_id": self.queue_id,
            "sender": self.sender,
            "recipient": self.recipient,
            "delivered_at": self.delivered_at.isoformat(),
            "status_text": self.status_text,
            "outcome": self.outcome.value,
            "smtp_code": self.smtp_code,
            "enhanced_code": self.enhanced_code,
        }


def classify_status(text: str) -> tuple[Outcome, int | None, str | None]:
    """Classify a status text: delivered, deferred (4xx), failed (5xx) or unknown.

    :param text: the report's status text.
    """
    reply = _SMTP_REPLY.match(text)
    if reply:
        code = int(reply.group("code"))
        outcome = {2: Outcome.DELIVERED, 4: Outcome.DEFERRED, 5: Outcome.FAILED}[code // 100]
        return outcome, code, reply.group("enhanced")
    lowered = text.strip().lower()
    if lowered.startswith(DELIVERED_TEXTS):
        return Outcome.DELIVERED, None, None
    if _DEFERRED_WORDS.search(text):
        return Outcome.DEFERRED, None, None
    if _FAILED_WORDS.search(text):
        return Outcome.FAILED, None, None
    return Outcome.UNKNOWN, None, None


def report_error(status_text: str, code: str | None = None) -> XmailerReportError:
    """Map an error answer of the report endpoint to its named exception.

    :param status_text: the status text, e.g. ``STATUS: ERRO - FALTAM PARAMETROS``.
    :param code: the JSON ``codigo``, if any.
    """
    upper = status_text.upper()
    if code == "207" or "AUTENTICA" in upper:
        return XmailerAuthError(status_text, code=code or "207")
    if code == "208" or "FALTAM PARAMETROS" in upper:
        return XmailerMissingParameters(status_text, code=code or "208")
    if code == "210" or "DATA COM FORMATO" in upper:
        return XmailerBadDate(status_text, code=code or "210")
    if code == "211" or "HORA COM FORMATO" in upper:
        return XmailerBadTime(status_text, code=code or "211")
    return XmailerReportError(status_text, code=code)


@dataclass
class ParseStats:
    """What the parser saw: rows emitted and malformed lines (with a few samples for the log)."""

    rows: int = 0
    malformed: int = 0
    samples: list[tuple[int, str]] = field(default_factory=list)


class ReportParser:
    """Incremental parser of one report body.

    :param timezone: the service's time zone (report times are its wall time).
    :param strict: raise on the first malformed line instead of counting it.
    """

    def __init__(self, timezone: tzinfo, *, strict: bool = False) -> None:
        self.timezone = timezone
        self.strict = strict
        self.stats = ParseStats()
        self._format: str | None = None
        self._pending = b""
        self._line_number = 0
        self._json_text = ""
        self._json_state = "start"
        self._latin1 = False
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        # Reports repeat few days, hours and status texts: parse each once.
        self._days: dict[str, tuple[int, int, int] | None] = {}
        self._ambiguous_hours: dict[tuple[tuple[int, int, int], int], bool] = {}
        self._statuses: dict[str, tuple[Outcome, int | None, str | None]] = {}

    @property
    def detected_format(self) -> str | None:
        """``"text"`` or ``"json"`` once the first non-blank byte was seen."""
        return self._format

    def parse(self, chunks: Iterable[bytes]) -> Iterator[ReportRow]:
        """Parse a whole body given as chunks; rows are yielded as they complete.

        :param chunks: the body, in pieces of any size.
        """
        for chunk in chunks:
            yield from self.feed(chunk)
        yield from self.close()

    def feed(self, chunk: bytes) -> Iterator[ReportRow]:
        """Add a piece of the body; yield the rows it completes.

        :param chunk: the next bytes.
        """
        if self._format is None:
            self._format = _detect_format(self._pending + chunk)
            if self._format is None:  # not enough bytes to tell yet
                self._pending += chunk
                return
            chunk, self._pending = self._pending + chunk, b""
        if self._format == "text":
            yield from self._feed_text(chunk)
        else:
            yield from self._feed_json(self._decode_chunk(chunk))

    def close(self) -> Iterator[ReportRow]:
        """Flush what is left at the end of the body."""
        if self._format is None and self._pending.strip():
            self._format = "text"  # a lone "{": not a JSON object, a (malformed) line
        if self._format == "text" and self._pending:
            line, self._pending = self._pending, b""
            row = self._text_row(line)
            if row is not None:
                yield row
        elif self._format == "json":
            yield from self._feed_json("")
            if self._json_state not in ("done", "start") or self._json_text.strip():
                self._malformed(
                    self.stats.rows + self.stats.malformed + 1, self._json_text[:200] or "<truncated>"
                )
                raise XmailerReportParseError(
                    "the JSON report ended before its closing brace (truncated body)",
                    line_number=self.stats.rows + self.stats.malformed,
                    line=self._json_text[:200],
                )

    # -- text format --------------------------------------------------------------------------------
    def _feed_text(self, chunk: bytes) -> Iterator[ReportRow]:
        data = self._pending + chunk
        lines = data.split(b"\n")
        self._pending = lines.pop()
        for line in lines:
            row = self._text_row(line)
            if row is not None:
                yield row

    def _text_row(self, raw_line: bytes) -> ReportRow | None:
        self._line_number += 1
        line = self._decode_line(raw_line).strip("\r\n\ufeff ")
        if not line.strip():
            return None
        if line.upper().startswith("STATUS: ERRO") or line.upper().startswith("STATUS:ERRO"):
            raise report_error(line)
        fields = line.split(";", 5)
        if len(fields) != 6:
            return self._malformed(self._line_number, line)
        return self._row(self._line_number, line, *fields)

    # -- JSON format --------------------------------------------------------------------------------
    def _feed_json(self, text: str) -> Iterator[ReportRow]:
        self._json_text += text
        decoder = json.JSONDecoder()
        while True:
            buffer = self._json_text.lstrip()
            if self._json_state == "start":
                if not buffer:
                    return
                if buffer[0] != "{":
                    raise self._json_syntax(buffer)
                self._json_text, self._json_state = buffer[1:], "key"
                continue
            if self._json_state == "done":
                if buffer:
                    raise self._json_syntax(buffer)
                return
            if not buffer:
                return
            if buffer[0] == "}":
                self._json_text, self._json_state = buffer[1:], "done"
                continue
            if buffer[0] == ",":
                self._json_text = buffer[1:]
                continue
            key, rest = _decode_prefix(decoder, buffer)
            if key is _INCOMPLETE:
                return
            rest = rest.lstrip()
            if not rest:
                return
            if rest[0] != ":":
                raise self._json_syntax(buffer)
            value, consumed = _decode_prefix(decoder, rest[1:].lstrip())
            if value is _INCOMPLETE:
                return
            self._json_text = consumed
            row = self._json_row(str(key), value)
            if row is not None:
                yield row

    def _json_row(self, key: str, value: Any) -> ReportRow | None:
        number = self.stats.rows + self.stats.malformed + 1
        if isinstance(value, dict) and "codigo" in value:
            raise report_error(str(value.get("status") or ""), str(value.get("codigo")))
        if not isinstance(value, dict) or not all(isinstance(value.get(k), str) for k in _JSON_ROW_KEYS):
            return self._malformed(number, f"{key}: {json.dumps(value, ensure_ascii=False)[:200]}")
        line = json.dumps(value, ensure_ascii=False)
        return self._row(number, line, *(value[k] for k in _JSON_ROW_KEYS))

    def _json_syntax(self, buffer: str) -> XmailerReportParseError:
        return XmailerReportParseError(
            f"the JSON report is not valid JSON near {buffer[:80]!r}",
            line_number=self.stats.rows + self.stats.malformed + 1,
            line=buffer[:200],
        )

    # -- shared -------------------------------------------------------------------------------------
    def _row(
        self,
        number: int,
        line: str,
        queue_id: str,
        sender: str,
        recipient: str,
        day: str,
        clock: str,
        status: str,
    ) -> ReportRow | None:
        queue_id, recipient, status = queue_id.strip(), recipient.strip(), status.strip()
        if not queue_id or "@" not in recipient:
            return self._malformed(number, line)
        when = self._event_time(day.strip(), clock.strip(), queue_id)
        if when is None:
            return self._malformed(number, line)
        classified = self._statuses.get(status)
        if classified is None:
            classified = classify_status(status)
            if len(self._statuses) < 10_000:
                self._statuses[status] = classified
        self.stats.rows += 1
        return ReportRow(queue_id, sender.strip(), recipient, when, status, *classified)

    def _event_time(self, day: str, clock: str, queue_id: str) -> datetime | None:
        if day in self._days:
            ymd = self._days[day]
        else:
            ymd = _parse_day(day)
            if len(self._days) < 10_000:
                self._days[day] = ymd
        parts = clock.split(":")
        if ymd is None or len(parts) not in (2, 3) or not all(len(p) == 2 and p.isdigit() for p in parts):
            return None
        hour, minute, second = int(parts[0]), int(parts[1]), int(parts[2]) if len(parts) == 3 else 0
        if hour > 23 or minute > 59 or second > 59:
            return None
        moment = datetime(*ymd, hour, minute, second, tzinfo=self.timezone)
        key = (ymd, hour)
        ambiguous = self._ambiguous_hours.get(key)
        if ambiguous is None:
            ambiguous = moment.replace(fold=0).utcoffset() != moment.replace(fold=1).utcoffset()
            self._ambiguous_hours[key] = ambiguous
        if ambiguous:
            # An hour that happened twice (end of summer time): the queue id's receive time decides.
            parsed = parse_queue_id(queue_id)
            if parsed is not None and moment < parsed.received_at - timedelta(minutes=5):
                return moment.replace(fold=1)
        return moment

    def _malformed(self, number: int, line: str) -> ReportRow | None:
        """Count (or, in strict mode, raise on) a malformed line; always returns ``None``."""
        if self.strict:
            raise XmailerReportParseError(
                f"malformed report line {number}: {line[:200]!r}", line_number=number, line=line[:200]
            )
        self.stats.malformed += 1
        if len(self.stats.samples) < MAX_SAMPLES:
            self.stats.samples.append((number, line[:200]))
        return None

    def _decode_line(self, data: bytes) -> str:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:  # the service's older answers are Latin-1
            return data.decode("latin-1")

    def _decode_chunk(self, data: bytes) -> str:
        if self._latin1:
            return data.decode("latin-1")
        try:
            return self._utf8.decode(data)
        except UnicodeDecodeError:
            self._latin1 = True
            buffered, _ = self._utf8.getstate()
            return (buffered + data).decode("latin-1")


_INCOMPLETE = object()


def _decode_prefix(decoder: json.JSONDecoder, text: str) -> tuple[Any, str]:
    """Decode the JSON value at the start of ``text``; ``_INCOMPLETE`` when more data could finish it."""
    if not text:
        return _INCOMPLETE, text
    try:
        value, end = decoder.raw_decode(text)
    except json.JSONDecodeError as err:
        if _is_incomplete(text):
            return _INCOMPLETE, text
        raise XmailerReportParseError(
            f"the JSON report is not valid JSON near {text[:80]!r}", line_number=0, line=text[:200]
        ) from err
    if isinstance(value, (int, float)) and end == len(text):
        return _INCOMPLETE, text  # a number cut by the chunk boundary
    return value, text[end:]


def _detect_format(head: bytes) -> str | None:
    """``"json"`` for a keyed object (``{"`` or ``{}``), ``"text"`` otherwise; ``None`` until it can tell.

    A text line may itself start with ``{``, so the brace alone does not decide.
    """
    stripped = head.lstrip()
    if not stripped:
        return None
    if stripped[:1] != b"{":
        return "text"
    after = stripped[1:].lstrip()
    if not after:
        return None
    return "json" if after[:1] in (b'"', b"}") else "text"


def _parse_day(day: str) -> tuple[int, int, int] | None:
    """``DD/MM/YYYY`` to ``(year, month, day)``; ``None`` when it is not a real date."""
    parts = day.split("/")
    if len(parts) != 3 or not all(p.isdigit() for p in parts) or len(parts[2]) != 4:
        return None
    try:
        parsed = date(int(parts[2]), int(parts[1]), int(parts[0]))
    except ValueError:
        return None
    return parsed.year, parsed.month, parsed.day


def _is_incomplete(buffer: str) -> bool:
    """True when a JSON value at the start of ``buffer`` could still be completed by more data."""
    depth = 0
    in_string = False
    escaped = False
    for char in buffer:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
    return in_string or depth > 0
