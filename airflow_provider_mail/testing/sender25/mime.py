"""RFC 822 plumbing for the Sender25 emulator: base64 as Postal does it, building the message of
a ``send/message`` call, and reading stored messages back for the ``messages/message`` expansions.

Building uses :mod:`email` for the MIME body (charsets, transfer encodings, multipart nesting) but
writes the top-level header block itself, so header order and content are under our control and
odd user input (custom headers named ``Date``, non-ASCII names) cannot make the parser raise.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from email import policy
from email.header import Header, decode_header, make_header
from email.message import EmailMessage, Message, MIMEPart
from email.parser import BytesParser
from email.utils import formataddr, getaddresses

_B64_ALPHABET = re.compile(rb"[^A-Za-z0-9+/]")
_FOLDING = re.compile(r"\r?\n[ \t]+")
CRLF = b"\r\n"


@dataclass(frozen=True)
class Attachment:
    """One attachment of a stored message.

    :param filename: the attachment's file name ("" when it has none).
    :param content_type: its MIME type, e.g. ``text/csv``.
    :param data: the decoded bytes.
    """

    filename: str
    content_type: str
    data: bytes


def lenient_b64decode(text: str) -> bytes:
    """Decode base64 the way Ruby's ``Base64.decode64`` does: ignore junk, stop at padding.

    :param text: base64 text, possibly with newlines or stray characters.
    """
    data = text.encode("utf-8", "surrogateescape").split(b"=", 1)[0]
    clean = _B64_ALPHABET.sub(b"", data)
    clean = clean[: len(clean) - (len(clean) % 4 == 1)]  # a lone trailing sextet carries no byte
    try:
        return base64.b64decode(clean + b"=" * (-len(clean) % 4))
    except binascii.Error:  # pragma: no cover - the input is sanitised above
        return b""


def mime_b64encode(data: bytes) -> str:
    """Encode like Ruby's ``Base64.encode64``: 60 characters per line, each ending in ``\\n``.

    :param data: the bytes to encode (empty gives ``""``).
    """
    encoded = base64.b64encode(data).decode("ascii")
    return "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60))


def header_line(name: str, value: str, *, address: bool = False) -> bytes:
    """Render one header field, RFC 2047-encoding non-ASCII text.

    :param name: the field name.
    :param value: the unencoded value; line breaks are flattened (no header injection).
    :param address: treat the value as an address list, so only display names get encoded.
    """
    value = " ".join(value.splitlines())
    if value.isascii():
        return f"{name}: {value}".encode() + CRLF
    if address:
        pairs = getaddresses([value])
        rendered = ", ".join(formataddr(pair, charset="utf-8") for pair in pairs if any(pair))
        return f"{name}: {rendered}".encode() + CRLF
    encoded = Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    return f"{name}: {encoded}".encode() + CRLF


def build_body(plain: str | None, html: str | None, attachments: list[Attachment]) -> bytes:
    """Render the MIME part of a message: its ``MIME-Version``/``Content-*`` fields and body.

    One body gives a single text part, both give ``multipart/alternative``, attachments wrap
    that in ``multipart/mixed``.

    :param plain: the text body, or ``None`` to leave it out.
    :param html: the HTML body, or ``None``.
    :param attachments: files to attach, in order.
    """
    # MIMEPart (not EmailMessage) so that nested parts do not each get a MIME-Version field.
    root = MIMEPart(policy=policy.SMTP)
    if plain is not None:
        root.set_content(plain)
        if html is not None:
            root.add_alternative(html, subtype="html")
    elif html is not None:
        root.set_content(html, subtype="html")
    for attachment in attachments:
        maintype, subtype = _split_mime_type(attachment.content_type)
        root.add_attachment(attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename)
    return b"MIME-Version: 1.0" + CRLF + root.as_bytes()


def _split_mime_type(content_type: str) -> tuple[str, str]:
    maintype, _, subtype = content_type.partition(";")[0].strip().lower().partition("/")
    if not maintype or not subtype or maintype in ("multipart", "message") or " " in content_type.strip():
        return "application", "octet-stream"
    return maintype, subtype


def parse_headers(raw: bytes) -> Message:
    """Parse only the header block of a raw message, tolerating anything.

    :param raw: the message bytes.
    """
    return BytesParser(policy=policy.compat32).parsebytes(raw, headersonly=True)


def decoded(value: str) -> str:
    """Unfold a header value and decode its RFC 2047 words.

    :param value: the value as parsed by :func:`parse_headers`.
    """
    # Raw 8-bit header bytes arrive as surrogate escapes; read them as UTF-8 (SMTPUTF8 style).
    value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    unfolded = _FOLDING.sub(" ", value).strip()
    try:
        return str(make_header(decode_header(unfolded)))
    except (UnicodeError, LookupError, ValueError, binascii.Error):
        return unfolded


def _fields(raw: bytes) -> list[tuple[str, str]]:
    # raw_items() keeps 8-bit bytes as surrogate escapes instead of wrapping them in Header objects.
    return [(name, str(value)) for name, value in parse_headers(raw).raw_items()]


def header_map(raw: bytes) -> dict[str, list[str]]:
    """Return the ``headers`` expansion: lower-cased name → decoded values, in message order.

    :param raw: the stored message.
    """
    result: dict[str, list[str]] = {}
    for name, value in _fields(raw):
        result.setdefault(name.lower(), []).append(decoded(value))
    return result


def first_header(raw: bytes, name: str) -> str | None:
    """Return the first decoded value of header ``name``, or ``None``.

    :param raw: the message bytes.
    :param name: the header name, any case.
    """
    wanted = name.lower()
    return next((decoded(value) for key, value in _fields(raw) if key.lower() == wanted), None)


def message_id_of(raw: bytes) -> str | None:
    """Return the ``Message-ID`` without angle brackets, ``None`` when absent or empty.

    :param raw: the message bytes.
    """
    value = first_header(raw, "Message-ID")
    if value is None:
        return None
    if "<" in value:
        value = value.rsplit("<", 1)[1].split(">", 1)[0]
    return value.strip() or None


def addresses_in(raw: bytes, name: str) -> list[str]:
    """Return the bare addresses of every ``name`` header field (all occurrences).

    :param raw: the message bytes.
    :param name: e.g. ``From`` or ``Sender``.
    """
    wanted = name.lower()
    values = [decoded(value) for key, value in _fields(raw) if key.lower() == wanted]
    return [address for _, address in getaddresses(values) if address]


def parse_message(raw: bytes) -> EmailMessage:
    """Parse a whole stored message with the modern email API.

    :param raw: the message bytes.
    """
    return BytesParser(policy=policy.default).parsebytes(raw)


def body_text(raw: bytes, subtype: str) -> str | None:
    """Return the decoded ``text/<subtype>`` body part, or ``None`` if there is none.

    Line endings come back as ``\n``, and the one line break that ends every encoded text
    part is dropped, so a body reads back as it was sent.

    :param raw: the message bytes.
    :param subtype: ``plain`` or ``html``.
    """
    part = parse_message(raw).get_body(preferencelist=(subtype,))
    if part is None:
        return None
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return None
    try:  # a part without a charset parameter is read as UTF-8 rather than ASCII
        content = payload.decode(part.get_content_charset() or "utf-8", "replace")
    except LookupError:
        content = payload.decode("utf-8", "replace")
    content = content.replace("\r\n", "\n")
    return content[:-1] if content.endswith("\n") else content


def attachments_of(raw: bytes) -> list[Attachment]:
    """Return every attachment part (disposition ``attachment`` or a named leaf part).

    :param raw: the message bytes.
    """
    found = []
    for part in parse_message(raw).walk():
        if part.is_multipart():
            continue
        if part.get_content_disposition() != "attachment" and not part.get_filename():
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        found.append(Attachment(part.get_filename() or "", part.get_content_type(), data))
    return found
