"""Prepare a complete RFC 2822 message for a raw send: parse it, require From, add Message-ID and trace.

The user's bytes are kept as they are; missing headers are prepended, so nothing in the body or in
the existing headers is re-encoded or re-folded. A message need not be UTF-8 (an ``.eml`` saved in
Latin-1 is common): bytes are never decoded, and text that was decoded with ``surrogateescape`` gets
its original bytes back.
"""

from __future__ import annotations

import re
from email import message_from_bytes
from email.message import Message
from email.policy import SMTP
from email.utils import getaddresses, make_msgid
from pathlib import Path
from typing import Any

from airflow_provider_mail._shared.addresses import ascii_hostname, header_text, validate_header_name
from airflow_provider_mail.exceptions import MailValidationError


def load_raw_message(message: Message | bytes | str | Path) -> bytes:
    """Return the message as bytes with CRLF line endings.

    :param message: an ``email.message.Message``, bytes, text, or a ``Path`` to an ``.eml`` file.
    """
    if isinstance(message, Message):
        return message_as_bytes(message)
    if isinstance(message, Path):
        try:
            message = message.read_bytes()
        except (OSError, ValueError) as err:
            reason = getattr(err, "strerror", None) or str(err)
            raise MailValidationError(
                f"`message` file {str(message)!r} cannot be read: {reason}", code="InvalidArgument"
            ) from None
    if isinstance(message, str):
        message = encode_message_text(message)
    if not isinstance(message, (bytes, bytearray)):
        raise MailValidationError(
            f"`message` must be an EmailMessage, bytes, str or an .eml path, got {type(message).__name__}",
            code="InvalidArgument",
        )
    raw = bytes(message)
    if b"\r\n" not in raw:
        raw = raw.replace(b"\n", b"\r\n")
    return raw


def eml_template_not_utf8(template: str, err: UnicodeDecodeError) -> MailValidationError:
    """The error for an ``.eml`` template file that Jinja cannot read because it is not UTF-8.

    Airflow renders a ``message`` ending in ``.eml`` as a template and Jinja decodes it as UTF-8; the
    operator catches the ``UnicodeDecodeError`` and raises this instead. A ``Path`` is never rendered,
    so it is the way to send such a file byte for byte.

    :param template: the template name or path given as ``message``.
    :param err: the decoding error.
    """
    return MailValidationError(
        f"`message` template {template!r} is not UTF-8 (byte {err.object[err.start : err.start + 1]!r} at "
        f"position {err.start}); save it as UTF-8 to render it as a template, or pass "
        "pathlib.Path(...) to send the file as it is, unrendered",
        code="InvalidArgument",
    )


def encode_message_text(text: str) -> bytes:
    """Encode a message given as text: UTF-8, restoring bytes that were decoded with ``surrogateescape``.

    :param text: the message text.
    """
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as err:
        raise MailValidationError(
            f"`message` text has a character that is not valid Unicode at position {err.start} "
            f"({text[err.start : err.end]!r}); pass the message as bytes",
            code="InvalidArgument",
        ) from None


def message_as_bytes(message: Message) -> bytes:
    """Serialise an ``email.message.Message`` with the SMTP policy (CRLF).

    :param message: the message object.
    """
    try:
        return message.as_bytes(policy=SMTP)
    except (UnicodeError, ValueError, TypeError, LookupError) as err:
        raise MailValidationError(
            f"`message` cannot be serialised ({type(err).__name__}: {err}); build it as an "
            "email.message.EmailMessage, whose default policy encodes non-ASCII headers",
            code="InvalidArgument",
        ) from None


def prepare_raw_message(raw: bytes, *, extra_headers: dict[str, str] | None = None) -> tuple[bytes, str]:
    """Check the message and prepend a ``Message-ID`` (when missing) and ``extra_headers``.

    Returns the bytes to send and the Message-ID without brackets.

    :param raw: the message, CRLF bytes.
    :param extra_headers: headers to add (e.g. the trace header); existing ones are not replaced.
        Values must be one line of ASCII (they are prepended as they are).
    """
    header_block = raw.split(b"\r\n\r\n", 1)[0]
    parsed = message_from_bytes(header_block + b"\r\n\r\n")
    if not raw.strip() or (parsed.defects and not parsed.keys()):
        raise MailValidationError("`message` does not parse as an RFC 2822 message", code="InvalidArgument")
    from_header = parsed.get("From")
    if not from_header:
        raise MailValidationError("`message` has no From header", code="FromAddressMissing")
    prepended: list[str] = []
    for name, value in (extra_headers or {}).items():
        if parsed.get(validate_header_name(name, argument="extra_headers")) is None:
            prepended.append(f"{name}: {_ascii_header_value(value, name)}")
    message_id = (parsed.get("Message-ID") or "").strip()
    if not message_id:
        # With a domain, make_msgid does no I/O (without one it asks the resolver for this host's FQDN).
        raw_from = next(value for name, value in parsed.raw_items() if name.lower() == "from")
        message_id = make_msgid(domain=_message_id_domain(str(raw_from)))
        prepended.insert(0, f"Message-ID: {message_id}")
    prefix = "".join(f"{line}\r\n" for line in prepended).encode("ascii")
    return prefix + raw, message_id.strip("<>")


def _ascii_header_value(value: Any, name: str) -> str:
    text = header_text(value, argument=f"extra_headers[{name!r}]")
    if not text.isascii():
        raise MailValidationError(
            f"extra header {name!r} must be ASCII to be prepended to a raw message, got {text!r}",
            code="InvalidArgument",
        )
    return text


def _message_id_domain(from_header: str) -> str:
    """The From address's domain in ASCII (IDNA 2008), for the Message-ID; refused when not valid.

    :param from_header: the header as stored (``raw_items``): 8-bit bytes still surrogate-escaped,
        which ``get()`` would have replaced by U+FFFD.
    """
    from_header = _utf8(re.sub(r"\r?\n[ \t]", " ", from_header))
    addresses = getaddresses([from_header])
    addr_spec = addresses[0][1] if addresses else ""
    local, at, domain = addr_spec.rpartition("@")
    if not at or not local or not domain:
        raise MailValidationError(
            f"`message` has a From header without a usable address ({from_header!r})", code="InvalidAddress"
        )
    return ascii_hostname(domain, argument="message From", shown=from_header)


def _utf8(text: str) -> str:
    """Undo the parser's ``surrogateescape`` for UTF-8 header bytes (an IDN domain written in UTF-8)."""
    try:
        return text.encode("ascii", "surrogateescape").decode("utf-8")
    except UnicodeError:  # not UTF-8 (e.g. Latin-1): left as it is, and refused as a domain
        return text
