"""Exim queue ids: recognise both formats and decode the receive time they carry.

Classic (Exim <= 4.96): ``tttttt-pppppp-ff`` (16 chars); Exim 4.97+: ``tttttt-ppppppppppp-ffff``
(23 chars). All parts are base 62 (0-9, A-Z, a-z); the first six characters are the Unix time the
relay received the message, so a report window can be derived from the id alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_VALUES = {char: index for index, char in enumerate(BASE62)}
_CLASSIC = re.compile(r"^[0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2}$")
_EXIM_497 = re.compile(r"^[0-9A-Za-z]{6}-[0-9A-Za-z]{11}-[0-9A-Za-z]{4}$")


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
