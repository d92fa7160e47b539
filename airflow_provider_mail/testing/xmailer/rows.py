"""The delivery report's rows: which events a query selects, and the bytes of the two formats.

Selection (reference doc §1, §3) works on **São Paulo wall time**, the way the service's report
table stores ``data``/``hora`` columns: an event's epoch time is converted with the tz database
(``zoneinfo``; DST until February 2019), truncated to the second and compared with the window
``dataini horaini:00 … datafim horafim:59``. Comparing wall times (not epochs) also settles the
two odd hours: a window may start inside the hour skipped on 2018-11-04, and a window on the
repeated hour of 2019-02-16 23:00 to 23:59 matches both passes through it.

Rows come newest first, as in the seed's sample (whose times run backwards). A text report is one
``queue_id;from;to;DD/MM/YYYY;HH:MM:SS;status`` line per event, each ended by ``\\n``; a JSON
report is an object keyed ``"0"``, ``"1"``, … rendered like PHP's ``json_encode`` with
``JSON_UNESCAPED_UNICODE`` (compact, ``/`` escaped as ``\\/``, non-ASCII left as is — so the
report encoding matters for both formats).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from .ids import base62
from .store import DELIVERED, SUCCESS_TEXT, DeliveryEvent, SyntheticReport, user_unknown_text

JSON_KEYS = ("msgid", "email_de", "email_para", "data", "hora", "status")
_CHUNK_ROWS = 512  # ~45 KiB per chunk of a streamed report
_FRACTIONS = tuple(base62(fraction, 2) for fraction in range(2000))  # Exim's 1/2000 s units
_SYNTHETIC_PROCESS_ID = base62(40_000, 6)
_SYNTHETIC_SENDER = "remetente@synthetic.example.com.br"
_PHP_WARNING = "<br /><b>Warning</b>:  mysqli_fetch_array() expects parameter 1 to be mysqli_result"
_ESCAPED_SLASH = "\\/"
_PHP_WARNING_JSON = _PHP_WARNING.replace("/", _ESCAPED_SLASH)


@dataclass(frozen=True)
class ReportQuery:
    """A validated report request.

    :param start: the window's first wall-clock second (São Paulo, naive).
    :param end: the window's last wall-clock second (``horafim`` plus 59 s).
    :param status: ``erro``, ``sucesso`` or ``None`` (no status filter).
    :param recipient: ``emaildestino``, compared case-insensitively, or ``None``.
    :param sender: ``remetente``, compared case-insensitively, or ``None``.
    :param queue_id: ``idMensagem``, compared exactly, or ``None``.
    """

    start: datetime.datetime
    end: datetime.datetime
    status: str | None = None
    recipient: str | None = None
    sender: str | None = None
    queue_id: str | None = None

    def matches(self, event: DeliveryEvent, wall: datetime.datetime) -> bool:
        """Whether an event at wall time ``wall`` belongs in the report.

        :param event: the delivery event.
        :param wall: its São Paulo wall time, truncated to the second.
        """
        if not self.start <= wall <= self.end:
            return False
        delivered = event.outcome == DELIVERED
        if (self.status == "sucesso" and not delivered) or (self.status == "erro" and delivered):
            return False
        if self.recipient is not None and event.rcpt_to.lower() != self.recipient.lower():
            return False
        if self.sender is not None and event.mail_from.lower() != self.sender.lower():
            return False
        return self.queue_id is None or event.queue_id == self.queue_id


def wall_time(epoch: float, zone: ZoneInfo) -> datetime.datetime:
    """The naive wall-clock time of ``epoch`` in ``zone``, truncated to the second.

    :param epoch: Unix time.
    :param zone: the report's time zone.
    """
    return datetime.datetime.fromtimestamp(int(epoch), zone).replace(tzinfo=None)


def select_rows(events: Iterable[DeliveryEvent], query: ReportQuery, zone: ZoneInfo) -> list[dict[str, str]]:
    """The report rows of the events a query selects, newest first, in the JSON keys.

    :param events: visible events, oldest first.
    :param query: the validated query.
    :param zone: the report's time zone.
    """
    selected: list[tuple[float, dict[str, str]]] = []
    for event in events:
        wall = wall_time(event.at, zone)
        if query.matches(event, wall):
            selected.append(
                (event.at, _row(event.queue_id, event.mail_from, event.rcpt_to, wall, event.status_text))
            )
    selected.sort(key=lambda item: item[0], reverse=True)  # stable: recipients keep their order
    return [row for _, row in selected]


def render_report(rows: list[dict[str, str]], extra_rows: Iterable[dict[str, Any] | str], fmt: str) -> str:
    """The whole report body as text (before encoding).

    :param rows: the selected rows.
    :param extra_rows: injected rows, appended as given (dicts in the JSON keys, or raw lines).
    :param fmt: ``text`` or ``json``.
    """
    everything: list[dict[str, Any] | str] = [*rows, *extra_rows]
    if fmt == "json":
        members = (f'"{index}":{php_json(row)}' for index, row in enumerate(everything))
        return "{" + ",".join(members) + "}"
    return "".join(_text_line(row) + "\n" for row in everything)


def php_json(value: Any) -> str:
    """Encode like PHP's ``json_encode(…, JSON_UNESCAPED_UNICODE)``: compact, ``\\/`` slashes.

    :param value: a JSON-compatible value.
    """
    # "/" only ever occurs inside JSON strings, so escaping it afterwards is safe.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("/", _ESCAPED_SLASH)


def synthetic_chunks(
    spec: SyntheticReport, fmt: str, encoding: str, zone: ZoneInfo, query: ReportQuery
) -> Iterator[bytes]:
    """Generate a synthetic report chunk by chunk, never holding more than one chunk.

    Rows lie inside the requested window, as the service's would — in its middle half, so a
    client that pads its window and filters rows by the unpadded one keeps them all. They run
    backwards in time, as many per second as it takes to fit them (at least one), each with its
    own Exim id; every tenth is a hard bounce. Filters and the visibility lag are ignored. Every
    ``malformed_every``-th row is malformed, cycling through three kinds — text: too few fields,
    an ISO date instead of ``DD/MM/YYYY``, a PHP warning line; JSON: no ``status`` key, an ISO
    ``data``, a string instead of a row object.

    :param spec: how many rows, how often malformed.
    :param fmt: ``text`` or ``json``.
    :param encoding: the body's character encoding.
    :param zone: the report's time zone.
    :param query: the validated request (its window places the rows).
    """
    window_end = int(query.end.replace(tzinfo=zone).timestamp())
    window_start = int(query.start.replace(tzinfo=zone).timestamp())
    half_window = max((window_end - window_start + 1) // 2, 1)
    per_second = max(1, -(-spec.lines // half_window))  # ceiling division
    seconds_used = -(-spec.lines // per_second)
    newest = (window_start + window_end + seconds_used) // 2  # the rows' span, centred
    as_json = fmt == "json"
    render = _synthetic_json_member if as_json else _synthetic_text_line
    if as_json:
        yield b"{"
    batch: list[str] = []
    malformed_seen = 0
    every = spec.malformed_every
    for index in range(spec.lines):
        offset, slot = divmod(index, per_second)
        if slot == 0:
            moment = _SyntheticSecond(newest - offset, zone)
        kind = -1
        if every and (index + 1) % every == 0:
            kind, malformed_seen = malformed_seen % 3, malformed_seen + 1
        line = render(index, moment.queue_id(slot), moment, kind)
        batch.append("," + line if as_json and index else line)
        if len(batch) >= _CHUNK_ROWS:
            yield "".join(batch).encode(encoding, "replace")
            batch.clear()
    if batch:
        yield "".join(batch).encode(encoding, "replace")
    if as_json:
        yield b"}"


class _SyntheticSecond:
    """What the synthetic rows of one second share (computed once per second, for speed)."""

    def __init__(self, epoch: int, zone: ZoneInfo):
        wall = wall_time(epoch, zone)
        self.time62 = base62(epoch, 6)
        self.day = f"{wall.day:02d}/{wall.month:02d}/{wall.year:04d}"
        self.iso_day = f"{wall.year:04d}-{wall.month:02d}-{wall.day:02d}"
        self.clock = f"{wall.hour:02d}:{wall.minute:02d}:{wall.second:02d}"
        self.json_day = self.day.replace("/", _ESCAPED_SLASH)

    def queue_id(self, slot: int) -> str:
        """The id of the second's ``slot``-th row: 2000 fractions per "process", as in Exim."""
        process, fraction = divmod(slot, 2000)
        pid = _SYNTHETIC_PROCESS_ID if process == 0 else base62(40_000 + process, 6)
        return f"{self.time62}-{pid}-{_FRACTIONS[fraction]}"


def _synthetic_status(index: int, rcpt: str) -> str:
    return user_unknown_text(rcpt) if index % 10 == 9 else SUCCESS_TEXT


def _synthetic_text_line(index: int, queue_id: str, moment: _SyntheticSecond, kind: int) -> str:
    rcpt = f"dest{index}@synthetic.example.com.br"
    if kind == 2:
        return _PHP_WARNING + "\n"
    if kind == 0:
        return f"{queue_id};{_SYNTHETIC_SENDER};{rcpt}\n"
    day = moment.iso_day if kind == 1 else moment.day
    return f"{queue_id};{_SYNTHETIC_SENDER};{rcpt};{day};{moment.clock};{_synthetic_status(index, rcpt)}\n"


def _synthetic_json_member(index: int, queue_id: str, moment: _SyntheticSecond, kind: int) -> str:
    # Hand-formatted for speed: the values are plain ASCII without quotes or backslashes, and
    # only the date holds a "/" to escape (status texts have none).
    if kind == 2:
        return f'"{index}":"{_PHP_WARNING_JSON}"'
    rcpt = f"dest{index}@synthetic.example.com.br"
    day = moment.iso_day if kind == 1 else moment.json_day
    row = (
        f'"msgid":"{queue_id}","email_de":"{_SYNTHETIC_SENDER}",'
        f'"email_para":"{rcpt}","data":"{day}","hora":"{moment.clock}"'
    )
    if kind != 0:
        row += f',"status":"{_synthetic_status(index, rcpt)}"'
    return f'"{index}":{{{row}}}'


def _row(queue_id: str, sender: str, rcpt: str, wall: datetime.datetime, status: str) -> dict[str, str]:
    values = (queue_id, sender, rcpt, wall.strftime("%d/%m/%Y"), wall.strftime("%H:%M:%S"), status)
    return dict(zip(JSON_KEYS, values, strict=True))


def _text_line(row: dict[str, Any] | str) -> str:
    if isinstance(row, str):
        return row
    return ";".join(str(row.get(key, "")) for key in JSON_KEYS)
