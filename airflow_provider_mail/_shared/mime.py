"""Build an RFC 5322 message from the operator arguments, for services that take SMTP (xmailer).

Uses the same address and attachment rules as the Sender25 payload builder: recipients split on
commas/semicolons, de-duplicated case-insensitively, IDN domains in punycode, non-ASCII display
names RFC 2047-encoded, no line breaks in header values. Bcc never appears in the headers.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formatdate, make_msgid
from functools import cached_property
from typing import Any, NamedTuple

from airflow_provider_mail._shared.addresses import (
    EmailAddress,
    header_text,
    parse_address,
    parse_message_parts,
    validated_headers,
)
from airflow_provider_mail._shared.attachment import Attachment, AttachmentLike, coerce_attachments
from airflow_provider_mail._shared.mime_wire import (
    SMTP,
    address_header,
    date_header,
    message_id_header,
    multipart_header,
    text_body,
    text_header,
    text_part_headers,
)
from airflow_provider_mail.exceptions import MailValidationError

#: Headers the builder owns; a custom header of the same name would duplicate or override them.
RESERVED_HEADERS = frozenset(
    {"from", "to", "cc", "bcc", "subject", "reply-to", "sender", "message-id", "date"}
)


__all__ = ["RESERVED_HEADERS", "SMTP", "BuiltMessage", "build_email_message"]

#: Digits of a multipart boundary's random token, as the ``email`` package makes them.
_BOUNDARY_WIDTH = len(repr(sys.maxsize - 1))


@dataclass(frozen=True)
class BuiltMessage:
    """A message ready for SMTP.

    :param data: the message as it goes on the wire (RFC 5322, CRLF line endings).
    :param mail_from: the envelope sender (bare address).
    :param recipients: envelope recipients: to, cc and bcc, de-duplicated.
    :param message_id: the Message-ID without angle brackets.
    """

    data: bytes
    mail_from: str
    recipients: list[str]
    message_id: str

    def as_bytes(self) -> bytes:
        """The message as CRLF bytes."""
        return self.data

    @cached_property
    def message(self) -> EmailMessage:
        """The message read back as an ``EmailMessage`` (policy SMTP), for inspection."""
        return BytesParser(EmailMessage, policy=SMTP).parsebytes(self.data)


def build_email_message(
    *,
    to: str | Iterable[str] | None,
    from_email: str,
    subject: str | None = None,
    plain_body: str | None = None,
    html_body: str | None = None,
    cc: str | Iterable[str] | None = None,
    bcc: str | Iterable[str] | None = None,
    sender: str | None = None,
    reply_to: str | None = None,
    headers: Mapping[str, Any] | None = None,
    attachments: Iterable[AttachmentLike] | None = (),
) -> BuiltMessage:
    """Validate the arguments and build the message.

    :param to: recipients.
    :param from_email: the From address.
    :param subject: the subject.
    :param plain_body: text body.
    :param html_body: HTML body (with ``plain_body``: multipart/alternative).
    :param cc: Cc recipients.
    :param bcc: Bcc recipients (envelope only).
    :param sender: the Sender header.
    :param reply_to: the Reply-To header.
    :param headers: extra headers.
    :param attachments: loaded attachments (or any form :func:`coerce_attachment` accepts).
    """
    content = _content(
        to=to,
        from_email=from_email,
        subject=subject,
        plain_body=plain_body,
        html_body=html_body,
        cc=cc,
        bcc=bcc,
        sender=sender,
        reply_to=reply_to,
        headers=headers,
        attachments=attachments,
    )
    data = _wire_bytes(content)
    if data is None:
        data = _stdlib_bytes(content)
    recipients = [a.addr_spec for a in (*content.to, *content.cc, *content.bcc)]
    return BuiltMessage(data, content.author.addr_spec, recipients, content.message_id.strip("<>"))


def _content(
    *,
    to: str | Iterable[str] | None,
    from_email: str,
    subject: str | None,
    plain_body: str | None,
    html_body: str | None,
    cc: str | Iterable[str] | None,
    bcc: str | Iterable[str] | None,
    sender: str | None,
    reply_to: str | None,
    headers: Mapping[str, Any] | None,
    attachments: Iterable[AttachmentLike] | None,
) -> _Content:
    """Check every argument (see :func:`build_email_message`) and stamp the Date and Message-ID."""
    to_list, cc_list, bcc_list, plain_body, html_body = parse_message_parts(
        to=to, cc=cc, bcc=bcc, from_email=from_email, plain_body=plain_body, html_body=html_body
    )
    # Everything is checked before the message is assembled, so a bad argument never half-builds it.
    checked_subject = None if subject is None else header_text(subject, argument="subject")
    checked_headers = validated_headers(headers)
    for name in checked_headers:
        if name.lower() in RESERVED_HEADERS:
            raise MailValidationError(
                f"`headers` sets {name!r}, which comes from its own argument; use that argument",
                code="InvalidArgument",
            )
    checked_attachments = coerce_attachments(attachments)
    if not (to_list or cc_list or bcc_list):
        raise MailValidationError(
            "there are no recipients (`to`, `cc` and `bcc` are empty)", code="NoRecipients"
        )
    if not (plain_body and plain_body.strip()) and not (html_body and html_body.strip()):
        raise MailValidationError(
            "there is no content (`plain_body` and `html_body` are empty)", code="NoContent"
        )
    if not from_email or not from_email.strip():
        raise MailValidationError("the From address (`from_email`) is missing", code="FromAddressMissing")
    author = parse_address(from_email, argument="from_email")
    sender_address = parse_address(sender, argument="sender") if sender else None
    reply_address = parse_address(reply_to, argument="reply_to") if reply_to else None
    date = formatdate(localtime=False, usegmt=True)
    # The author's domain is already ASCII (IDNA 2008 in parse_address), and with a domain make_msgid
    # does no I/O.
    message_id = make_msgid(domain=author.addr_spec.rpartition("@")[2])
    return _Content(
        author,
        to_list,
        cc_list,
        bcc_list,
        sender_address,
        reply_address,
        checked_subject,
        checked_headers,
        plain_body,
        html_body,
        checked_attachments,
        date,
        message_id,
    )


class _Content(NamedTuple):
    """Everything a message is made of, validated; both serialisers take it."""

    author: EmailAddress
    to: list[EmailAddress]
    cc: list[EmailAddress]
    #: envelope only
    bcc: list[EmailAddress]
    sender: EmailAddress | None
    reply_to: EmailAddress | None
    subject: str | None
    headers: dict[str, str]
    plain_body: str | None
    html_body: str | None
    attachments: Sequence[Attachment]
    #: ``formatdate(usegmt=True)``
    date: str
    #: ``<...@domain>``
    message_id: str


def _stdlib_bytes(content: _Content) -> bytes:
    """The message built and serialised by the ``email`` package: the reference form, used for what
    :func:`_wire_bytes` does not write itself (custom ``Content-*`` headers)."""
    message = EmailMessage(policy=SMTP)
    message["From"] = content.author.as_address()
    if content.to:
        message["To"] = _header_list(content.to)
    if content.cc:
        message["Cc"] = _header_list(content.cc)
    if content.sender:
        message["Sender"] = content.sender.as_address()
    if content.reply_to:
        message["Reply-To"] = content.reply_to.as_address()
    if content.subject is not None:
        message["Subject"] = content.subject
    message["Date"] = content.date
    message["Message-ID"] = content.message_id
    for name, value in content.headers.items():
        message[name] = value
    _set_bodies(message, content.plain_body, content.html_body)
    for attachment in content.attachments:
        maintype, subtype, params = attachment.content_type_parts()
        message.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.name, params=params
        )
    return message.as_bytes(policy=SMTP)


def _wire_bytes(content: _Content) -> bytes | None:
    """The message written directly (:mod:`~airflow_provider_mail._shared.mime_wire`): the same bytes
    as :func:`_stdlib_bytes`; ``None`` for a message it leaves to the ``email`` package (a custom
    ``Content-*`` or ``MIME-Version`` header, which the package moves or drops)."""
    if any(name.lower().startswith("content-") or name.lower() == "mime-version" for name in content.headers):
        return None
    plain = content.plain_body if content.plain_body and content.plain_body.strip() else None
    html = content.html_body if content.html_body and content.html_body.strip() else None
    if plain is None:
        html = content.html_body or ""
    plain_part = None if plain is None else text_body(plain)
    html_part = None if html is None else text_body(html)
    lines = [address_header("From", [content.author])]
    if content.to:
        lines.append(address_header("To", content.to))
    if content.cc:
        lines.append(address_header("Cc", content.cc))
    if content.sender:
        lines.append(address_header("Sender", [content.sender]))
    if content.reply_to:
        lines.append(address_header("Reply-To", [content.reply_to]))
    if content.subject is not None:
        lines.append(text_header("Subject", content.subject))
    lines.append(date_header(content.date))
    lines.append(message_id_header(content.message_id))
    lines.extend(text_header(name, value) for name, value in content.headers.items())
    if plain_part is not None and html_part is not None:
        # the package's boundaries: the same random draws, in the same order, and form
        boundary = _boundary()
        if boundary in plain_part[1] or boundary in html_part[1]:
            return None  # one chance in 10^19: the package picks another
        body = [
            multipart_header("alternative", boundary),
            f"\r\n--{boundary}\r\n",
            text_part_headers("plain", plain_part[0]),
            "\r\n",
            plain_part[1],
            f"\r\n--{boundary}\r\n",
            text_part_headers("html", html_part[0]),
            "MIME-Version: 1.0\r\n\r\n",
            html_part[1],
            f"\r\n--{boundary}--\r\n",
        ]
        if not content.attachments:
            return _encoded([*lines, "MIME-Version: 1.0\r\n", *body])
    else:
        subtype, part = ("plain", plain_part) if plain_part is not None else ("html", html_part)
        if part is None:
            return None  # no body at all (refused before, by build_email_message)
        if not content.attachments:
            return _encoded(
                [*lines, text_part_headers(subtype, part[0]), "MIME-Version: 1.0\r\n\r\n", part[1]]
            )
        body = [text_part_headers(subtype, part[0]), "\r\n", part[1]]
    # With attachments the package turns the message into multipart/mixed: the text (or the
    # alternative) becomes its first part, MIME-Version stays at the top, each attachment is a part
    # of its own (made and written by the package: base64 and RFC 2231 file names are its business).
    parts = ["".join(body), *(_attachment_part(attachment) for attachment in content.attachments)]
    boundary = _boundary()
    if any(boundary in part for part in parts):
        return None
    lines += ["MIME-Version: 1.0\r\n", multipart_header("mixed", boundary), f"\r\n--{boundary}\r\n"]
    lines.append(f"\r\n--{boundary}\r\n".join(parts))
    lines.append(f"\r\n--{boundary}--\r\n")
    return _encoded(lines)


def _boundary() -> str:
    """A multipart boundary as the ``email`` package draws it (``Generator._make_boundary``)."""
    return "=" * 15 + f"{random.randrange(sys.maxsize):0{_BOUNDARY_WIDTH}d}" + "=="


def _attachment_part(attachment: Attachment) -> str:
    """One attachment's part as ``EmailMessage.add_attachment`` makes it and the generator writes it."""
    part = EmailMessage(policy=SMTP)
    maintype, subtype, params = attachment.content_type_parts()
    part.set_content(
        attachment.data, maintype=maintype, subtype=subtype, filename=attachment.name, params=params
    )
    if "content-disposition" not in part:
        part["Content-Disposition"] = "attachment"
    return part.as_bytes(policy=SMTP).decode("ascii", "surrogateescape")


def _encoded(lines: list[str]) -> bytes:
    # 8bit bodies hold their non-ASCII bytes as surrogate escapes, as the package's generator does
    return "".join(lines).encode("ascii", "surrogateescape")


def _header_list(addresses: list[EmailAddress]) -> list[Address]:
    return [a.as_address() for a in addresses]


def _set_bodies(message: EmailMessage, plain_body: str | None, html_body: str | None) -> None:
    if plain_body and plain_body.strip():
        message.set_content(plain_body)
        if html_body and html_body.strip():
            message.add_alternative(html_body, subtype="html")
    else:
        message.set_content(html_body or "", subtype="html")
