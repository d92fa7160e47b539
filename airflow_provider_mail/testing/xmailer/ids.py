"""Queue ids the emulated relay hands out at the end of DATA, and the reply that announces them.

Exim's id (reference doc §4, Exim spec ch. 3.4 "Message identification") is three groups of
base-62 digits (``0-9``, ``A-Z``, ``a-z``, in that order):

===========  ===========================  ================================================
style        shape                        groups
===========  ===========================  ================================================
``exim``     ``tttttt-pppppp-ff`` (16)    receipt second · process id · sub-second part in
                                          units of 1/2000 s (``usec // 500``, 0 to 1999)
``exim497``  ``tttttt-ppppppppppp-ffff``  receipt second · process id (11 digits, 64-bit
             (23)                         pids) · sub-second part in microseconds
===========  ===========================  ================================================

The 1/2000 s unit is Exim's own (``id_resolution`` 500 µs when ``localhost_number`` is unset);
the seed's sample ids agree (``1grzDi-00087c-PO`` has fraction 1574, impossible in hundredths).
The time group is the receipt time **in whole seconds of the emulator clock**, so a client can
decode it into a report window.

Exim runs one process per SMTP connection, so the emulator gives every connection a new
"process id" from a per-emulator counter: messages of one connection share the middle group and
differ in time or fraction, as on a real relay. Exim waits for the clock to tick past its
resolution before it reuses a (time, pid) pair; the emulator bumps the fraction instead.

``postfix`` ids are Postfix's short form (5 hex digits of microseconds + the queue file's inode
number in hex); ``none`` keeps Exim ids internally but announces none over SMTP.
"""

from __future__ import annotations

import string
import threading

BASE62_ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
QUEUE_ID_STYLES = ("exim", "exim497", "postfix", "none")

_FIRST_PROCESS_ID = 3000  # plausible pids; any start works, ids only need to be unique
_FIRST_INODE = 0x1A2B3


def base62(value: int, width: int) -> str:
    """Encode a non-negative integer in ``width`` base-62 digits (most significant first).

    :param value: the number; it must fit in ``width`` digits.
    :param width: the number of digits, zero-padded.
    :raises ValueError: if the value does not fit.
    """
    if value < 0 or value >= 62**width:
        raise ValueError(f"{value} does not fit in {width} base-62 digits")
    digits = []
    for _ in range(width):
        value, remainder = divmod(value, 62)
        digits.append(BASE62_ALPHABET[remainder])
    return "".join(reversed(digits))


def check_queue_id_style(style: str) -> str:
    """Return ``style`` if it is a known queue id style.

    :param style: ``exim``, ``exim497``, ``postfix`` or ``none``.
    :raises ValueError: naming the known styles otherwise.
    """
    if style not in QUEUE_ID_STYLES:
        raise ValueError(f"unknown queue_id_style {style!r}; choose one of {', '.join(QUEUE_ID_STYLES)}")
    return style


def end_of_data_reply(style: str, queue_id: str) -> str:
    """The relay's reply to the final ``.`` of DATA (reference doc §5).

    :param style: the queue id style.
    :param queue_id: the id given to the message.
    """
    if style == "postfix":
        return f"250 2.0.0 Ok: queued as {queue_id}"
    if style == "none":
        return "250 OK"  # an operator-customised reply: the client must match on the report
    return f"250 OK id={queue_id}"


class QueueIdFactory:
    """Hands out unique queue ids in one style; thread-safe.

    :param style: one of :data:`QUEUE_ID_STYLES`.
    """

    def __init__(self, style: str):
        self.style = check_queue_id_style(style)
        self._lock = threading.Lock()
        self._next_process_id = _FIRST_PROCESS_ID
        self._next_inode = _FIRST_INODE
        self._issued: set[str] = set()

    def new_process_id(self) -> int:
        """The "process id" of a new SMTP connection (Exim forks one process per connection)."""
        with self._lock:
            process_id = self._next_process_id
            self._next_process_id += 1
            return process_id

    def issue(self, received_at: float, process_id: int) -> str:
        """Return a fresh id for a message received at ``received_at`` on a connection.

        :param received_at: the emulator-clock receipt time (epoch seconds).
        :param process_id: the connection's :meth:`new_process_id`.
        """
        seconds = int(received_at)
        microseconds = min(int((received_at - seconds) * 1_000_000), 999_999)
        with self._lock:
            if self.style == "postfix":
                inode = self._next_inode
                self._next_inode += 1
                return f"{microseconds:05X}{inode:X}"
            fraction = microseconds if self.style == "exim497" else microseconds // 500
            while True:
                queue_id = self._exim_id(seconds, process_id, fraction)
                if queue_id not in self._issued:
                    self._issued.add(queue_id)
                    return queue_id
                fraction += 1  # Exim would wait for the next tick of its clock instead

    def forget(self) -> None:
        """Forget the ids issued so far (after a reset)."""
        with self._lock:
            self._issued.clear()

    def _exim_id(self, seconds: int, process_id: int, fraction: int) -> str:
        if self.style == "exim497":
            return f"{base62(seconds, 6)}-{base62(process_id, 11)}-{base62(fraction % 62**4, 4)}"
        return f"{base62(seconds, 6)}-{base62(process_id % 62**6, 6)}-{base62(fraction % 62**2, 2)}"
