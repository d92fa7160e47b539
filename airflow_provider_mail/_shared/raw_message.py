"""Prepare a complete RFC 2822 message for a raw send: parse it, require From, add Message-ID and trace.

The user's bytes are kept as they are; missing headers are prepended, so nothing in the body or in
the existing headers is re-encoded or re-folded.
"""

from __future__ import annotations

from email import message_from_bytes
from email.message import Message
from email.policy import SMTP
from email.utils import getaddresses, make_msgid
from pathlib import Path

from airflow_provider_mail._shared.addresses import reject_line_breaks
from airflow_provider_mail.exceptions import MailValidationError


def load_raw_message(message: Message | bytes | str | Path) -> bytes:
    """Return the message as bytes with CRLF line endings.

    :param message: an ``email.message.Message``, bytes, text, or a ``Path`` to an ``.eml`` file.
    """
    if isinstance(message, Message):
        return message.as_bytes(policy=SMTP)
    if isinstance(message, Path):
        message = message.read_bytes()
    if isinstance(message, str):
        message = message.encode("utf-8")
    if not isinstance(message, (bytes, bytearray)):
        raise MailValidationError(
            f"`message` must be an EmailMessage, bytes, str or an .eml path, got {type(message).__name__}",
            code="InvalidArgument",
        )
    raw = bytes(message)
    if b"\r\n" not in raw:
        raw = raw.replace(b"\n", b"\r\n")
    return raw


def prepare_raw_message(raw: bytes, *, extra_headers: dict[str, str] | None = None) -> tuple[bytes, str]:
    """Check the message and prepend a ``Message-ID`` (when missing) and ``extra_headers``.

    Returns the bytes to send and the Message-ID without brackets.

    :param raw: the message, CRLF bytes.
    :param extra_headers: headers to add (e.g. the trace header); existing ones are not replaced.
    """
    header_block = raw.split(b"\r\n\r\n", 1)[0]
    parsed = message_from_bytes(header_block + b"\r\n\r\n")
    if not raw.strip() or (parsed.defects and not parsed.keys()):
        raise MailValidationError("`message` does not parse as an RFC 2822 message", code="InvalidArgument")
    from_header = parsed.get("From")
    if not from_header:
        raise MailValidationError("`message` has no From header", code="FromAddressMissing")
    prepended: list[str] = []
    message_id = (parsed.get("Message-ID") or "").strip()
    if not message_id:
        domain = _domain_of(str(from_header))
        message_id = make_msgid(domain=domain) if domain else make_msgid()
        prepended.append(f"Message-ID: {message_id}")
    for name, value in (extra_headers or {}).items():
        if parsed.get(name) is None:
            reject_line_breaks(value, argument=name)
            prepended.append(f"{name}: {value}")
    prefix = "".join(f"{line}\r\n" for line in prepended).encode("ascii")
    return prefix + raw, message_id.strip("<>")


def _domain_of(from_header: str) -> str | None:
    addresses = getaddresses([from_header])
    if addresses and "@" in addresses[0][1]:
        return addresses[0][1].rpartition("@")[2] or None
    return None
