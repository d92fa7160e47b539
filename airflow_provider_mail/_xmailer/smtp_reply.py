"""Read the queue id out of the relay's answer to the end of DATA."""

from __future__ import annotations

import re

#: Exim: ``250 OK id=1grzDQ-000866-0o``; Postfix: ``250 2.0.0 Ok: queued as 4Xy1Zq3Lk``.
_QUEUE_ID = re.compile(r"(?:\bid=|queued as\s+)(?P<id>[0-9A-Za-z][0-9A-Za-z-]{3,40})", re.IGNORECASE)


def extract_queue_id(reply: str) -> str | None:
    """The queue id in an end-of-DATA reply, or ``None`` (operators may customise the text).

    :param reply: the reply text (without the code).
    """
    found = _QUEUE_ID.search(reply)
    return found.group("id") if found else None
