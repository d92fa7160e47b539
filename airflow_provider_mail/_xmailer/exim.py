"""Exim's own texts: queue ids (both formats, with the receive time they carry) and failure texts.

Classic (Exim <= 4.96): ``tttttt-pppppp-ff`` (16 chars); Exim 4.97+: ``tttttt-ppppppppppp-ffff``
(23 chars). All parts are base 62 (0-9, A-Z, a-z); the first six characters are the Unix time the
relay received the message, so a report window can be derived from the id alone.

A failed delivery is reported with the remote reply wrapped in Exim's words, e.g.
``SMTP error from remote mail server after RCPT TO:<ana@x.org>: 550 5.1.1 <ana@x.org>: …`` or
``host mx.x.org [192.0.2.7]: 451 4.7.1 …``; :func:`smtp_status` finds the reply codes inside.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import NamedTuple

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_VALUES = {char: index for index, char in enumerate(BASE62)}
_CLASSIC = re.compile(r"^[0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2}$")
_EXIM_497 = re.compile(r"^[0-9A-Za-z]{6}-[0-9A-Za-z]{11}-[0-9A-Za-z]{4}$")
# Addresses (<…>) and IP literals ([…], IPv6 has colons) may hold digits that look like a reply.
_BRACKETED = re.compile(r"<[^<>\r\n]*>|\[[^\[\]\r\n]*\]")
# A reply starts the text, a line, or follows "<stage>: " (Exim writes "after RCPT TO:<a@b>: 550 …").
_REPLY = re.compile(
    r"(?:\A[ \t\r\n]*|:[ \t\r\n]+|\n[ \t]*)"
    r"(?P<code>[245][0-5][0-9])(?![0-9.])"
    r"(?:[ \t-]+#?(?P<enhanced>[245]\.[0-9]{1,3}\.[0-9]{1,3})(?![0-9.]))?"
)


@dataclass(frozen=True)
class EximQueueId:
    """A parsed Exim queue id.

    :param value: the id as written.
    :param received_at: when the relay received the message (UTC).
    :param style: ``"classic"`` or ``"exim497"``.
    """

    value: str
    received_at: datetime
    style: str


def decode_base62(text: str) -> int:
    """Decode Exim's base-62 digits.

    :param text: digits from ``0-9A-Za-z``.
    """
    number = 0
    for char in text:
        number = number * 62 + _VALUES[char]
    return number


def parse_queue_id(value: str) -> EximQueueId | None:
    """Parse an Exim queue id of either format; ``None`` when it is not one (e.g. a Postfix id).

    :param value: the id.
    """
    value = value.strip()
    if _CLASSIC.match(value):
        style = "classic"
    elif _EXIM_497.match(value):
        style = "exim497"
    else:
        return None
    received = datetime.fromtimestamp(decode_base62(value[:6]), tz=timezone.utc)
    return EximQueueId(value=value, received_at=received, style=style)


class SmtpStatus(NamedTuple):
    """The SMTP reply found in a status text.

    :param code: the basic reply code (``550``), or ``None`` when the text holds no reply.
    :param enhanced: the enhanced status code (RFC 3463, ``5.1.1``), or ``None``.
    """

    code: int | None
    enhanced: str | None


NO_SMTP_STATUS = SmtpStatus(None, None)


def smtp_status(text: str) -> SmtpStatus:
    """Find the SMTP reply in a delivery status text: a bare reply or Exim's failure text around one.

    Recognised: ``550 5.1.1 User unknown``, ``550-5.1.1 …`` (multi-line replies),
    ``SMTP error from remote mail server after <stage>: 451 4.7.1 …`` for every stage (initial
    connection, MAIL FROM, RCPT TO, end of data, ``pipelined`` ones) and
    ``host mx.example [192.0.2.7]: 421 …``. Digits inside ``<address>`` or ``[ip]`` never count.

    :param text: the report's status text.
    """
    if not text:
        return NO_SMTP_STATUS
    masked = _BRACKETED.sub("_", text) if ("<" in text or "[" in text) else text
    found = _REPLY.search(masked)
    if found is None:
        return NO_SMTP_STATUS
    return SmtpStatus(int(found.group("code")), found.group("enhanced"))
