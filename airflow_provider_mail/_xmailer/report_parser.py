"""Parse xmailer delivery reports incrementally: `;` text lines or keyed JSON rows, detected from the body.

Feed the body in chunks (:meth:`ReportParser.feed`) and rows come out as soon as they are complete, so
a report of a million lines never sits in memory whole. Error answers (``STATUS: ERRO - …`` lines, JSON
``codigo`` rows) raise their named exception; an HTML page (a proxy's error page, a PHP error) raises
:class:`~airflow_provider_mail.exceptions.XmailerUnexpectedResponse`. A malformed line is counted and
kept as a sample, and raises :class:`~airflow_provider_mail.exceptions.XmailerReportParseError` in
``strict`` mode; it is never silently dropped.

How the bytes arrive never changes the rows: a UTF-8 byte-order mark, LF, CRLF or CR-only line ends,
and chunk boundaries anywhere (inside a JSON literal, number, ``\\u`` escape or UTF-8 sequence) all
parse as the plain body would. Every byte is scanned a bounded number of times, so the cost is linear
in the body and one :meth:`~ReportParser.feed` does work proportional to its chunk (plus at most one
row): a row longer than :data:`MAX_ROW_SIZE` cannot be a report row, so it is skipped as it streams
(counted malformed) instead of being buffered.
"""

from __future__ import annotations

import codecs
import html
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from enum import Enum
from typing import Any, Generic, NamedTuple, TypeVar

from airflow_provider_mail._shared.redact import Redactor
from airflow_provider_mail._xmailer.exim import parse_queue_id, smtp_status
from airflow_provider_mail.exceptions import (
    REDACTED,
    XmailerAuthError,
    XmailerBadDate,
    XmailerBadTime,
    XmailerMissingParameters,
    XmailerReportError,
    XmailerReportParseError,
    XmailerUnexpectedResponse,
)

DELIVERED_TEXTS = ("entregue",)
_DEFERRED_WORDS = re.compile(r"adiad|defer|tempor|greylist|try again|tente novamente", re.IGNORECASE)
_FAILED_WORDS = re.compile(
    r"n[ãa]o entregue|falha|erro|bounce|rejeit|recusad|inexistente|caixa cheia|inv[áa]lid"
    r"|failed|rejected|unknown",
    re.IGNORECASE,
)
_JSON_ROW_KEYS = ("msgid", "email_de", "email_para", "data", "hora", "status")
MAX_SAMPLES = 5
#: Longest row kept (bytes of a text line, characters of a JSON key or value). A real row is a few
#: hundred bytes (an SMTP reply line is at most 512); anything longer is skipped, counted malformed.
MAX_ROW_SIZE = 1 << 20
#: How much of an HTML answer is read for the exception's excerpt.
HTML_EXCERPT_BYTES = 4096
_BOM = b"\xef\xbb\xbf"
_LINE_END = re.compile(rb"\r\n?|\n")
_PHP_ERROR = re.compile(r"^(?:PHP )?(?:Fatal error|Parse error|Catchable fatal error)\s*:", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
_SECRET_PARAM = re.compile(
    r"(?P<name>senha_smtp|token_auth|senha|password|passwd|token)(?P<sep>\s*(?:=|:|=>)\s*)[^\s&\"'<>,;]+",
    re.IGNORECASE,
)
_JSON_SPACE = re.compile(r"[ \t\r\n]*")


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

    The SMTP code decides when the text holds one, bare or inside Exim's failure text
    (:func:`~airflow_provider_mail._xmailer.exim.smtp_status`); words decide otherwise.

    :param text: the report's status text.
    """
    code, enhanced = smtp_status(text)
    if code is not None:
        outcome = {2: Outcome.DELIVERED, 4: Outcome.DEFERRED, 5: Outcome.FAILED}[code // 100]
        return outcome, code, enhanced
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
    :param secrets: strings (password, token) to redact from the excerpt of an unexpected answer,
        in every form a page could echo them (raw, URL-encoded, HTML-escaped).
    :param max_row_size: longest row kept, see :data:`MAX_ROW_SIZE`.
    """

    def __init__(
        self,
        timezone: tzinfo,
        *,
        strict: bool = False,
        secrets: Iterable[str] = (),
        max_row_size: int = MAX_ROW_SIZE,
    ) -> None:
        self.timezone = timezone
        self.strict = strict
        self.stats = ParseStats()
        self._redact_secrets = Redactor(secrets)
        self._format: str | None = None
        self._work = 0
        # Until the format is known: the byte-order mark probe and the (blank, "{") head.
        self._bom_probe = b""
        self._bom_checked = False
        self._head: list[bytes] = []
        self._seen_brace = False
        # Text: the line that spans chunks, and whether a chunk ended inside a CRLF.
        self._line: _Held[bytes] = _Held(max_row_size, b"")
        self._skip_lf = False
        self._line_number = 0
        self._seen_line = False
        # JSON: where in the outer object we are, the key read, the value that spans chunks.
        self._json_state = "start"
        self._key: str | None = None
        self._key_oversize = ""
        self._scanner = _TokenScanner(max_row_size)
        self._max_row = max_row_size
        self._decoder = json.JSONDecoder()
        self._latin1 = False
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        # HTML: the first bytes, for the exception's excerpt.
        self._html: list[bytes] = []
        self._html_size = 0
        # Reports repeat few days, hours and status texts: parse each once.
        self._days: dict[str, tuple[int, int, int] | None] = {}
        self._ambiguous_hours: dict[tuple[tuple[int, int, int], int], bool] = {}
        self._statuses: dict[str, tuple[Outcome, int | None, str | None]] = {}

    @property
    def detected_format(self) -> str | None:
        """``"text"``, ``"json"`` (or ``"html"``, about to raise) once the first non-blank byte was seen."""
        return self._format

    @property
    def work(self) -> int:
        """Bytes and characters scanned, decoded or copied so far: an operation count, linear in the body."""
        return self._work + self._line.work + self._scanner.held.work

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
            chunk = self._detect(chunk)
            if self._format is None:  # not enough bytes to tell yet
                return
        if self._format == "text":
            yield from self._feed_text(chunk)
        elif self._format == "json":
            yield from self._feed_json(self._decode_chunk(chunk))
        else:
            self._feed_html(chunk)

    def close(self) -> Iterator[ReportRow]:
        """Flush what is left at the end of the body."""
        if self._format is None:
            rest = b"".join(self._head) + self._bom_probe
            if not rest.strip():
                return
            self._format = "text"  # a lone "{" (or a cut byte-order mark): a (malformed) line
            yield from self._feed_text(rest)
        if self._format == "text":
            if self._line.size:
                row = self._held_line()
                if row is not None:
                    yield row
        elif self._format == "json":
            tail = self._decode_chunk(b"", final=True)
            if tail:
                yield from self._feed_json(tail)
            if self._json_state != "done":
                sample = self._scanner.held.head if self._json_state == "in_value" else ""
                self._malformed(self.stats.rows + self.stats.malformed + 1, sample[:200] or "<truncated>")
                raise XmailerReportParseError(
                    "the JSON report ended before its closing brace (truncated body)",
                    line_number=self.stats.rows + self.stats.malformed,
                    line=sample[:200],
                )
        elif self._format == "html":
            raise self._unexpected(b"".join(self._html), "an HTML page", cut=False)

    # -- format detection ---------------------------------------------------------------------------
    def _detect(self, chunk: bytes) -> bytes:
        """Drop a leading byte-order mark and decide the format; return the bytes to parse once known.

        Only the new chunk is examined: what came before was blank (or a lone ``{``).
        """
        if not self._bom_checked:
            probe = self._bom_probe + chunk
            if len(probe) < len(_BOM) and _BOM.startswith(probe):
                self._bom_probe = probe
                return b""
            self._bom_checked, self._bom_probe = True, b""
            chunk = probe[len(_BOM) :] if probe.startswith(_BOM) else probe
        self._work += len(chunk)
        self._head.append(chunk)
        stripped = chunk.lstrip()
        if not stripped:
            return b""
        if not self._seen_brace:
            if stripped[:1] == b"<":
                self._format = "html"
            elif stripped[:1] != b"{":
                self._format = "text"
            else:
                self._seen_brace = True
                stripped = stripped[1:].lstrip()
        if self._format is None:
            if not stripped:
                return b""
            # A text line may itself start with "{": only a key or "}" after it means JSON.
            self._format = "json" if stripped[:1] in (b'"', b"}") else "text"
        data = b"".join(self._head)
        self._head = []
        return data

    # -- text format --------------------------------------------------------------------------------
    def _feed_text(self, data: bytes) -> Iterator[ReportRow]:
        if self._skip_lf:  # the previous chunk ended with the CR of a CRLF
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
        if not data:
            return
        self._work += len(data)
        # CR-only, LF and CRLF line ends; only this chunk is split, never the held line again.
        parts = _LINE_END.split(data) if b"\r" in data else data.split(b"\n")
        self._skip_lf = data[-1:] == b"\r"
        last = parts.pop()
        limit = self._line.limit
        for part in parts:
            if self._line.size or len(part) > limit:
                self._line.add(part, 0, len(part))
                row = self._held_line()
            else:
                row = self._text_row(part)
            if row is not None:
                yield row
        if last:
            self._line.add(last, 0, len(last))

    def _held_line(self) -> ReportRow | None:
        head = self._line.head
        line = self._line.take()
        if line is not None:
            return self._text_row(line)
        self._line_number += 1
        self._seen_line = True
        return self._malformed(self._line_number, _too_long(_decode_text(head)))

    def _text_row(self, raw_line: bytes) -> ReportRow | None:
        self._line_number += 1
        line = _decode_text(raw_line).strip("\r\n\ufeff ")
        if not line.strip():
            return None
        if not self._seen_line:
            self._seen_line = True
            if _PHP_ERROR.match(line):
                raise self._unexpected(raw_line, "a PHP error", cut=False)
        if line[:12].upper().startswith(("STATUS: ERRO", "STATUS:ERRO")):
            raise report_error(line)
        fields = line.split(";", 5)
        if len(fields) != 6:
            return self._malformed(self._line_number, line)
        return self._row(self._line_number, line, *fields)

    # -- JSON format --------------------------------------------------------------------------------
    def _feed_json(self, text: str) -> Iterator[ReportRow]:
        """Walk the outer object ``{"key": row, …}``; each row is decoded once, when complete."""
        self._work += len(text)
        pos, end = 0, len(text)
        while pos < end:
            state = self._json_state
            if state in ("in_key", "in_value"):
                stop = self._scanner.scan(text, pos)
                if stop is None:
                    return
                pos = stop
                head = self._scanner.held.head
                token = self._scanner.held.take()
                if state == "in_key":
                    self._take_key(None if token is None else self._loads(token), head)
                else:
                    row = self._take_value(None if token is None else self._loads(token), token, head)
                    if row is not None:
                        yield row
                continue
            space = _JSON_SPACE.match(text, pos)
            pos = space.end() if space else pos
            if pos >= end:
                return
            char = text[pos]
            if (state == "key" and char == '"') or (state == "value" and char not in ",:}]"):
                decoded = self._decode_at(text, pos)
                if decoded is None:  # cut by the chunk's end: scan it as it arrives
                    self._scanner.start(char)
                    self._json_state = "in_key" if state == "key" else "in_value"
                    continue
                value, stop = decoded
                raw = text[pos:stop] if stop - pos <= self._max_row else None
                head = text[pos : pos + _HEAD]
                pos = stop
                if state == "key":
                    self._take_key(value if raw is not None else None, head)
                else:
                    row = self._take_value(value if raw is not None else None, raw, head)
                    if row is not None:
                        yield row
            elif state == "key" and char == "}":
                self._json_state, pos = "done", pos + 1
            elif state == "key" and char == ",":
                pos += 1
            elif state == "colon" and char == ":":
                self._json_state, pos = "value", pos + 1
            elif state == "start" and char == "{":
                self._json_state, pos = "key", pos + 1
            else:
                raise self._json_syntax(text[pos : pos + 200])

    def _decode_at(self, text: str, pos: int) -> tuple[Any, int] | None:
        """The JSON value starting at ``pos`` and its end, or ``None`` when the chunk may have cut it."""
        try:
            value, stop = self._decoder.raw_decode(text, pos)
        except (ValueError, RecursionError):  # incomplete (or invalid: the scanner then finds its end)
            self._work += len(text) - pos
            return None
        self._work += stop - pos
        if not isinstance(value, (str, dict, list)) and _SCALAR_END.match(text, stop) is None:
            return None  # a number or literal touching the chunk's end ("12" of "1234", "1e" of "1e5")
        return value, stop

    def _take_key(self, key: Any, head: str) -> None:
        if key is None:  # longer than a row
            self._key, self._key_oversize = None, head
        elif isinstance(key, str):
            self._key, self._key_oversize = key, ""
        else:
            raise self._json_syntax(head)
        self._json_state = "colon"

    def _take_value(self, value: Any, raw: str | None, head: str) -> ReportRow | None:
        self._json_state = "key"
        if raw is None or self._key is None:
            number = self.stats.rows + self.stats.malformed + 1
            return self._malformed(number, _too_long(f"{self._key or self._key_oversize[:80]}: {head}"))
        return self._json_row(self._key, value, raw)

    def _loads(self, token: str) -> Any:
        self._work += len(token)
        try:
            return json.loads(token)
        except (ValueError, RecursionError):
            raise self._json_syntax(token[:200]) from None

    def _json_row(self, key: str, value: Any, raw: str) -> ReportRow | None:
        number = self.stats.rows + self.stats.malformed + 1
        if isinstance(value, dict) and "codigo" in value:
            raise report_error(str(value.get("status") or ""), str(value.get("codigo")))
        if not isinstance(value, dict) or not all(isinstance(value.get(k), str) for k in _JSON_ROW_KEYS):
            return self._malformed(number, f"{key}: {raw[:200]}")
        return self._row(number, raw, *(value[k] for k in _JSON_ROW_KEYS))

    def _json_syntax(self, near: str) -> XmailerReportParseError:
        return XmailerReportParseError(
            f"the JSON report is not valid JSON near {near[:80]!r}",
            line_number=self.stats.rows + self.stats.malformed + 1,
            line=near[:200],
        )

    # -- not a report -------------------------------------------------------------------------------
    def _feed_html(self, data: bytes) -> None:
        room = HTML_EXCERPT_BYTES - self._html_size
        if room > 0:
            self._html.append(data[:room])
            self._html_size += min(room, len(data))
        if self._html_size >= HTML_EXCERPT_BYTES:
            raise self._unexpected(b"".join(self._html), "an HTML page", cut=True)

    def _unexpected(self, raw: bytes, what: str, *, cut: bool) -> XmailerUnexpectedResponse:
        excerpt = self._excerpt(raw, cut=cut)
        return XmailerUnexpectedResponse(
            f"the report endpoint answered {what} instead of a report: {excerpt or '(no text)'}",
            body_excerpt=excerpt,
        )

    def _excerpt(self, raw: bytes, *, cut: bool) -> str:
        """The text of a page (tags dropped, blanks collapsed), secrets redacted, then shortened."""
        text = raw.decode("utf-8", errors="replace")
        if cut:  # the last word may be a cut secret: drop it
            words = text.rsplit(None, 1)
            text = words[0] if len(words) == 2 else ""
        # Redact before dropping tags (a secret may contain "<x>") and again after unescaping.
        text = self._redact(text)
        text = self._redact(" ".join(html.unescape(_TAG.sub(" ", text)).split()))
        return text[:200]

    def _redact(self, text: str) -> str:
        text = self._redact_secrets(text)
        return _SECRET_PARAM.sub(lambda found: f"{found['name']}{found['sep']}{REDACTED}", text)

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

    def _decode_chunk(self, data: bytes, final: bool = False) -> str:
        if self._latin1:
            return data.decode("latin-1")
        try:
            return self._utf8.decode(data, final)
        except UnicodeDecodeError:
            self._latin1 = True
            buffered, _ = self._utf8.getstate()
            return (buffered + data).decode("latin-1")


_T = TypeVar("_T", bytes, str)
#: Characters of a row kept for the sample of one that is too long.
_HEAD = 256
_STRING_STOP = re.compile(r'["\\]')
_STRUCTURE_STOP = re.compile(r'["{}\[\]]')
# A JSON number or literal is made of these; anything else ends it.
_SCALAR_END = re.compile(r"[^0-9A-Za-z+\-.]")


class _Held(Generic[_T]):
    """The pieces of one row that spans chunks, joined once when it completes (never re-copied).

    Past ``limit`` the pieces are dropped (only the first characters stay, for the sample).

    :param limit: the longest row kept.
    :param empty: ``b""`` or ``""``.
    """

    def __init__(self, limit: int, empty: _T) -> None:
        self.limit = limit
        self.empty: _T = empty
        self.work = 0
        self.pieces: list[_T] = []
        self.size = 0
        self.head: _T = empty

    def add(self, data: _T, start: int, stop: int) -> None:
        """Hold ``data[start:stop]``."""
        if stop <= start:
            return
        self.size += stop - start
        if len(self.head) < _HEAD:
            self.head += data[start : min(stop, start + _HEAD - len(self.head))]
        if self.size <= self.limit:
            self.pieces.append(data[start:stop])
            self.work += stop - start
        elif self.pieces:
            self.pieces = []

    def take(self) -> _T | None:
        """The whole row (``None`` when it was longer than ``limit``), and start a new one."""
        whole = self.empty.join(self.pieces) if self.size <= self.limit else None
        self.work += self.size if whole is not None else 0
        self.pieces, self.size, self.head = [], 0, self.empty
        return whole


class _TokenScanner:
    """Finds where a JSON value ends across chunks, looking at each character once.

    Strings are skipped with their escapes (a ``\\`` at a chunk's end escapes the next chunk's first
    character); objects and arrays by depth; numbers and literals end at the first other character.

    :param limit: the longest value kept.
    """

    def __init__(self, limit: int) -> None:
        self.held: _Held[str] = _Held(limit, "")
        self.kind = "scalar"
        self.depth = 0
        self.in_string = False
        self.escaped = False
        self.fresh = False

    def start(self, first: str) -> None:
        """Begin a value whose first character is ``first``."""
        self.kind = "scalar" if first not in '"{[' else "structure"
        self.depth = 1 if first in "{[" else 0
        self.in_string = first == '"'
        self.escaped = False
        self.fresh = True

    def scan(self, text: str, pos: int) -> int | None:
        """Hold ``text`` from ``pos`` up to the value's end; return that end, or ``None`` for "read on"."""
        begin = pos
        if self.fresh:
            self.fresh, pos = False, pos + 1
        if self.kind == "scalar":
            found = _SCALAR_END.search(text, pos)
            stop = found.start() if found else None
        else:
            stop = self._structure_end(text, pos)
        self.held.add(text, begin, len(text) if stop is None else stop)
        return stop

    def _structure_end(self, text: str, pos: int) -> int | None:
        end = len(text)
        while pos < end:
            if self.escaped:
                self.escaped, pos = False, pos + 1
                continue
            if self.in_string:
                found = _STRING_STOP.search(text, pos)
                if found is None:
                    return None
                pos = found.end()
                if found.group() == "\\":
                    self.escaped = True
                    continue
                self.in_string = False
                if self.depth == 0:
                    return pos
            else:
                found = _STRUCTURE_STOP.search(text, pos)
                if found is None:
                    return None
                pos = found.end()
                char = found.group()
                if char == '"':
                    self.in_string = True
                elif char in "{[":
                    self.depth += 1
                else:
                    self.depth -= 1
                    if self.depth == 0:
                        return pos
        return None


def _too_long(head: str) -> str:
    """The sample of a row longer than :data:`MAX_ROW_SIZE`: its start, and why it was skipped."""
    return f"{head[:150]} … (longer than a report row)"


def _decode_text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:  # the service's older answers are Latin-1
        return data.decode("latin-1")


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
