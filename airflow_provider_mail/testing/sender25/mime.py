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
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from email import policy, quoprimime
from email.header import Header, decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import formataddr, getaddresses
from urllib.parse import quote

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


# Mail::Field::FIELD_ORDER of the Mail gem Postal builds messages with: a message's header fields
# are rendered in this order, every other field (custom headers) after all of them, in the order
# they were added.
MAIL_FIELD_ORDER = (
    "return-path",
    "received",
    "resent-date",
    "resent-from",
    "resent-sender",
    "resent-to",
    "resent-cc",
    "resent-bcc",
    "resent-message-id",
    "date",
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "bcc",
    "message-id",
    "in-reply-to",
    "references",
    "subject",
    "comments",
    "keywords",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-location",
    "content-disposition",
    "content-description",
)
_FIELD_RANK = {name: rank for rank, name in enumerate(MAIL_FIELD_ORDER)}
_MIME_TYPE = re.compile(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+")
_SEVEN_BIT_LINE = 998
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")


def in_mail_order(fields: list[tuple[str, bytes]]) -> bytes:
    """Join rendered header lines in the Mail gem's field order (stable for equal ranks).

    :param fields: ``(name, rendered line)`` pairs in the order they were set.
    """
    ranked = sorted(fields, key=lambda field: _FIELD_RANK.get(field[0].lower(), len(MAIL_FIELD_ORDER)))
    return b"".join(line for _, line in ranked)


def build_body(
    plain: str | None, html: str | None, attachments: list[Attachment], boundary: Callable[[], str]
) -> tuple[list[tuple[str, bytes]], bytes]:
    """Render the MIME structure ``OutgoingMessagePrototype#raw_message`` builds with the Mail gem.

    Postal (``app/models/outgoing_message_prototype.rb``) always adds one ``multipart/alternative``
    part holding the text and/or HTML part, then one part per attachment; the Mail gem wraps a
    body with parts in ``multipart/mixed``. So even a plain-text-only message is
    ``multipart/mixed`` → ``multipart/alternative`` → ``text/plain``. Bodies are written
    byte-for-byte (line breaks as CRLF), never with a line break added, so they read back as sent.

    :param plain: the text body, or ``None`` to leave it out.
    :param html: the HTML body, or ``None``.
    :param attachments: files to attach, in order.
    :param boundary: makes a fresh multipart boundary.
    :returns: the top-level MIME header lines (``(name, line)``) and the body bytes.
    """
    texts = []
    if plain is not None:
        texts.append(_text_part("text/plain; charset=UTF-8", plain))
    if html is not None:
        texts.append(_text_part("text/html; charset=UTF-8", html))
    alternative_headers, alternative_body = _multipart("multipart/alternative", texts, boundary())
    parts = [(alternative_headers, alternative_body)]
    parts.extend(_attachment_part(attachment) for attachment in attachments)
    mixed_headers, mixed_body = _multipart("multipart/mixed", parts, boundary())
    fields = [("Mime-Version", header_line("Mime-Version", "1.0"))]
    fields.extend((name, header_line(name, value)) for name, value in mixed_headers)
    return fields, mixed_body


_Part = tuple[list[tuple[str, str]], bytes]


def _multipart(kind: str, parts: list[_Part], boundary: str) -> _Part:
    headers = [("Content-Type", f'{kind}; boundary="{boundary}"; charset=UTF-8')]
    headers.append(("Content-Transfer-Encoding", "7bit"))
    delimiter = b"--" + boundary.encode()
    body = CRLF
    for part_headers, part_body in parts:
        rendered = b"".join(header_line(name, value) for name, value in part_headers)
        body += delimiter + CRLF + rendered + CRLF + part_body + CRLF
    return headers, body + delimiter + b"--" + CRLF


def _text_part(content_type: str, text: str) -> _Part:
    crlf = re.sub(r"\r\n|\r|\n", "\r\n", text)
    lines = crlf.split("\r\n")
    if crlf.isascii() and all(len(line) <= _SEVEN_BIT_LINE for line in lines):
        return [("Content-Type", content_type), ("Content-Transfer-Encoding", "7bit")], crlf.encode("ascii")
    # quoprimime works on one character per byte: hand it the UTF-8 bytes as Latin-1 text.
    encoded = quoprimime.body_encode(crlf.encode("utf-8").decode("latin-1"), maxlinelen=76, eol="\r\n")
    headers = [("Content-Type", content_type), ("Content-Transfer-Encoding", "quoted-printable")]
    return headers, encoded.encode("ascii")


def _attachment_part(attachment: Attachment) -> _Part:
    # Postal passes the content_type through as the Mail attachment's mime_type, parameters and
    # all (`text/csv; charset="utf-8"` stays so); only an unusable one becomes octet-stream.
    content_type = attachment.content_type.strip()
    if not _usable_content_type(content_type):
        content_type = "application/octet-stream"
    headers = [
        ("Content-Type", content_type),
        ("Content-Transfer-Encoding", "base64"),
        ("Content-Disposition", f"attachment; {_filename_param(attachment.filename)}"),
        ("Content-ID", f"<{secrets.token_hex(12)}@postal.emulator.test.mail>"),
    ]
    encoded = base64.encodebytes(attachment.data).replace(b"\n", CRLF)
    return headers, encoded.rstrip(CRLF)


def _filename_param(filename: str) -> str:
    if _TOKEN.fullmatch(filename):
        return f"filename={filename}"
    if filename.isascii():
        escaped = filename.replace("\\", "\\\\").replace('"', '\\"')
        return f'filename="{escaped}"'
    return f"filename*=utf-8''{quote(filename, safe='')}"  # RFC 2231


def _usable_content_type(content_type: str) -> bool:
    media_type = content_type.partition(";")[0].strip()
    if not _MIME_TYPE.fullmatch(media_type):
        return False
    return media_type.split("/", 1)[0].lower() not in ("multipart", "message")


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


def last_header(raw: bytes, name: str) -> str | None:
    """Return the last decoded value of header ``name``, or ``None`` (Postal's
    ``headers[name]&.last``).

    :param raw: the message bytes.
    :param name: the header name, any case.
    """
    values = header_map(raw).get(name.lower())
    return values[-1] if values else None


def message_attributes(raw: bytes) -> tuple[str, str | None]:
    """The ``subject`` and ``message_id`` columns Postal copies from a stored message.

    Postal's ``Message#copy_attributes_from_raw_message`` (``lib/postal/message_db/message.rb``):
    ``subject = headers["subject"]&.last.to_s[0, 200]`` — the *last* Subject, cut at 200
    characters, ``""`` when there is none — and ``message_id`` from the last Message-ID with
    everything outside the angle brackets removed.

    :param raw: the message bytes.
    :returns: ``(subject, message_id)``; the id is ``None`` when absent or empty.
    """
    header_block = raw.split(CRLF + CRLF, 1)[0]
    subject = (last_header(header_block, "Subject") or "")[:200]
    value = last_header(header_block, "Message-ID")
    if value is None:
        return subject, None
    message_id = re.sub(r">.*", "", re.sub(r".*<", "", value)).strip()
    return subject, message_id or None


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

    Line endings come back as ``\n``; nothing else is touched — a trailing line break stays, as
    in Postal's ``Mail::Message#plain_body`` (``config/initializers/mail_extensions.rb``), which
    returns the part's decoded text.

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
    return content.replace("\r\n", "\n")


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
