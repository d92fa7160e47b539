"""The wire form of the common message, written directly: the bytes the ``email`` package would write.

Building an ``EmailMessage`` parses every header value into a token tree and folds it back again on
output: most of the CPU time of a small message (issue 17: more than the official ``SmtpHook``'s whole
build and send). For what almost every header is (a one-line ASCII value) that round trip returns the
value unchanged, so these functions write it directly. Any other value (one to encode or fold, a
structured header the package rewrites) is handed to the ``email`` package's own folding, header by
header, and text bodies to its own encoder, without the message object around them: the output is
the same bytes in every case (``tests/_shared/test_mime_wire.py`` holds the two side by side).

Pure: no I/O.
"""

from __future__ import annotations

import re
from email.contentmanager import _encode_text  # type: ignore[attr-defined]
from email.generator import NLCRE as _NEWLINE  # type: ignore[attr-defined]
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.policy import SMTP as _STDLIB_SMTP
from functools import lru_cache

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


#: Folded lines kept for values seen again (a loop of sends repeats its From and often its Subject):
#: at most this many, of values at most ``_CACHED_LENGTH`` characters, so the memory stays bounded.
_CACHED_LINES = 256
_CACHED_LENGTH = 998


@lru_cache(maxsize=_CACHED_LINES)
def _folded_text(name: str, value: str) -> str:
    return folded(name, value)


@lru_cache(maxsize=_CACHED_LINES)
def _folded_addresses(name: str, addresses: tuple[EmailAddress, ...]) -> str:
    return folded(name, as_addresses(list(addresses)))


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
    return _folded_text(name, value) if len(value) <= _CACHED_LENGTH else folded(name, value)


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
    if len(value) <= _CACHED_LENGTH:
        return _folded_addresses(name, tuple(addresses))
    return folded(name, as_addresses(addresses))


def as_addresses(addresses: list[EmailAddress]) -> list[Address]:
    """The addresses as ``email.headerregistry.Address`` objects (the form the package folds).

    :param addresses: validated addresses.
    """
    return [a.as_address() for a in addresses]


def text_body(text: str) -> tuple[str, str]:
    """A text body as ``set_content`` encodes it and the generator writes it: its transfer encoding
    (``7bit``, ``8bit``, ``quoted-printable`` or ``base64``, the package's own choice) and the lines
    with CRLF endings (non-ASCII bytes of ``8bit`` as surrogate escapes).

    :param text: the body.
    """
    # the package's encoder itself (the choice between the encodings is its heuristics, not ours);
    # only the generic message object around it is skipped
    cte, payload = _encode_text(text, "utf-8", None, SMTP)
    lines = _NEWLINE.split(payload)
    return cte, "".join(line + "\r\n" for line in lines[:-1]) + lines[-1]


def text_part_headers(subtype: str, cte: str) -> str:
    """``Content-Type`` and ``Content-Transfer-Encoding`` of a UTF-8 text part.

    :param subtype: ``plain`` or ``html``.
    :param cte: the transfer encoding (from :func:`text_body`).
    """
    return f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}\r\n'


def multipart_header(subtype: str, boundary: str) -> str:
    """The ``Content-Type`` line of a multipart with its boundary, folded as the package folds it.

    :param subtype: ``alternative`` or ``mixed``.
    :param boundary: the boundary (no quotes).
    """
    line = f'Content-Type: multipart/{subtype}; boundary="{boundary}"'
    if len(line) <= MAX_LINE:
        return line + "\r\n"
    return f'Content-Type: multipart/{subtype};\r\n boundary="{boundary}"\r\n'
