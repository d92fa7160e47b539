"""The wire form of the common message, written directly: the bytes the ``email`` package would write.

Building an ``EmailMessage`` parses every header value into a token tree and folds it back again on
output: most of the CPU time of a small message (issue 17: more than the official ``SmtpHook``'s whole
build and send). For what almost every message is made of (one-line ASCII header values, ASCII bodies
with lines of at most 78 characters) that round trip returns the value unchanged, so these functions
write it directly. Anything else (a value to encode or fold, a structured header the package rewrites)
is handed to the ``email`` package's own folding, header by header, so the output is the same bytes
in every case; ``tests/_shared/test_mime_wire.py`` holds the two side by side.

Pure: no I/O.
"""

from __future__ import annotations

import re
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.policy import SMTP as _STDLIB_SMTP

from airflow_provider_mail._shared.addresses import EmailAddress

#: The longest line the SMTP policy writes without folding (``max_line_length``).
MAX_LINE = 78

#: One-line printable ASCII words, single spaces between them: a value the ``email`` package writes
#: back unchanged when it fits on the line. No ``=?`` (it would be read as an encoded word).
_PLAIN_VALUE = re.compile(r"[!-~]+(?: [!-~]+)*\Z")
#: A display name the package writes unquoted: atoms separated by single spaces (RFC 5322 phrase).
_ATOM_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")


class _HeaderClasses(HeaderRegistry):
    """The stdlib's registry creates a new header class for every header it parses or folds (a
    ``type()`` call each time: a third of building a small message). The class depends only on the
    header's name, so it is made once per name."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._classes.get(key)
        if made is None:
            made = self._classes[key] = super().__getitem__(name)
        return made


#: ``email.policy.SMTP`` (CRLF line endings) with the caching registry.
SMTP = _STDLIB_SMTP.clone(header_factory=_HeaderClasses())

#: Header names the ``email`` package parses as structured values (dates, addresses, MIME fields):
#: their written form may differ from the value given, so they always go through its folding.
_STRUCTURED = frozenset(HeaderRegistry().registry)


def folded(name: str, value: object) -> str:
    """The header line exactly as ``message[name] = value`` in an ``EmailMessage`` with the SMTP
    policy writes it (parsed, encoded where needed, folded at 78 characters, CRLF).

    :param name: the header name.
    :param value: the value as the ``email`` package takes it (a string, ``Address`` objects).
    """
    return SMTP.header_factory(name, value).fold(policy=SMTP)


def text_header(name: str, value: str) -> str:
    """An unstructured header line (``Subject``, a custom ``X-`` header), folded as the package does.

    :param name: the header name.
    :param value: its one-line value (checked by the caller).
    """
    if (
        len(name) + len(value) + 2 <= MAX_LINE
        and (name.lower() == "subject" or name.lower() not in _STRUCTURED)
        and _PLAIN_VALUE.match(value)
        and "=?" not in value
    ):
        return f"{name}: {value}\r\n"
    return folded(name, value)


def message_id_header(message_id: str) -> str:
    """The ``Message-ID`` line of ``make_msgid``'s value.

    :param message_id: ``<...@domain>``.
    """
    line = f"Message-ID: {message_id}\r\n"
    if len(line) - 2 <= MAX_LINE and _PLAIN_VALUE.match(message_id) and "=?" not in message_id:
        return line
    return folded("Message-ID", message_id)


def date_header(date: str) -> str:
    """The ``Date`` line of ``formatdate(usegmt=True)``'s value.

    The package reads the date and writes it back with a numeric zone: ``GMT`` becomes ``+0000``.

    :param date: e.g. ``Sun, 06 Dec 2026 09:40:35 GMT``.
    """
    if date.endswith(" GMT") and len(date) == 29:
        return f"Date: {date[:-4]} +0000\r\n"
    return folded("Date", date)


def address_header(name: str, addresses: list[EmailAddress]) -> str:
    """An address header line (``From``, ``To``, ``Cc``, ``Sender``, ``Reply-To``).

    :param name: the header name.
    :param addresses: validated addresses (their domains already ASCII).
    """
    value = ", ".join(
        f"{a.display_name} <{a.addr_spec}>" if a.display_name else a.addr_spec for a in addresses
    )
    if len(name) + len(value) + 2 <= MAX_LINE and all(
        not a.display_name or (_ATOM_PHRASE.match(a.display_name) and "=?" not in a.display_name)
        for a in addresses
    ):
        return f"{name}: {value}\r\n"
    return folded(name, as_addresses(addresses))


def as_addresses(addresses: list[EmailAddress]) -> list[Address]:
    """The addresses as ``email.headerregistry.Address`` objects (the form the package folds).

    :param addresses: validated addresses.
    """
    return [a.as_address() for a in addresses]


def seven_bit_body(text: str) -> str | None:
    """The body as ``set_content`` writes a ``7bit`` text (CRLF lines, a final CRLF), or ``None``
    when the package would choose another transfer encoding (non-ASCII, a line over 78 characters).

    :param text: the body.
    """
    if not text.isascii():
        return None
    # bytes.splitlines, as the package's encoder: only CR, LF and CRLF end a line here
    lines = text.encode("ascii").splitlines()
    if any(len(line) > MAX_LINE for line in lines):
        return None
    return "\r\n".join(line.decode("ascii") for line in lines) + "\r\n"


def text_part_headers(subtype: str) -> str:
    """``Content-Type`` and ``Content-Transfer-Encoding`` of a ``7bit`` UTF-8 text part.

    :param subtype: ``plain`` or ``html``.
    """
    return f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: 7bit\r\n'


def multipart_header(subtype: str, boundary: str) -> str:
    """The ``Content-Type`` line of a multipart with its boundary, folded as the package folds it.

    :param subtype: ``alternative`` or ``mixed``.
    :param boundary: the boundary (no quotes).
    """
    line = f'Content-Type: multipart/{subtype}; boundary="{boundary}"'
    if len(line) <= MAX_LINE:
        return line + "\r\n"
    return f'Content-Type: multipart/{subtype};\r\n boundary="{boundary}"\r\n'
