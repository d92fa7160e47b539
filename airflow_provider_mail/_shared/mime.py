"""Build an RFC 5322 message from the operator arguments, for services that take SMTP (xmailer).

Uses the same address and attachment rules as the Sender25 payload builder: recipients split on
commas/semicolons, de-duplicated case-insensitively, IDN domains in punycode, non-ASCII display
names RFC 2047-encoded, no line breaks in header values. Bcc never appears in the headers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import SMTP as _STDLIB_SMTP
from email.utils import formatdate, make_msgid
from typing import Any

from airflow_provider_mail._shared.addresses import (
    EmailAddress,
    header_text,
    parse_address,
    parse_message_parts,
    validated_headers,
)
from airflow_provider_mail._shared.attachment import AttachmentLike, coerce_attachments
from airflow_provider_mail.exceptions import MailValidationError


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

#: Headers the builder owns; a custom header of the same name would duplicate or override them.
RESERVED_HEADERS = frozenset(
    {"from", "to", "cc", "bcc", "subject", "reply-to", "sender", "message-id", "date"}
)


@dataclass(frozen=True)
class BuiltMessage:
    """A message ready for SMTP.

    :param message: the message (policy SMTP: CRLF line endings when serialised).
    :param mail_from: the envelope sender (bare address).
    :param recipients: envelope recipients: to, cc and bcc, de-duplicated.
    :param message_id: the Message-ID without angle brackets.
    """

    message: EmailMessage
    mail_from: str
    recipients: list[str]
    message_id: str

    def as_bytes(self) -> bytes:
        """The message as CRLF bytes."""
        return self.message.as_bytes(policy=SMTP)


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
    message = EmailMessage(policy=SMTP)
    message["From"] = author.as_address()
    if to_list:
        message["To"] = _header_list(to_list)
    if cc_list:
        message["Cc"] = _header_list(cc_list)
    if sender:
        message["Sender"] = parse_address(sender, argument="sender").as_address()
    if reply_to:
        message["Reply-To"] = parse_address(reply_to, argument="reply_to").as_address()
    if checked_subject is not None:
        message["Subject"] = checked_subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    # The author's domain is already ASCII (IDNA 2008 in parse_address), and with a domain make_msgid
    # does no I/O.
    message_id = make_msgid(domain=author.addr_spec.rpartition("@")[2])
    message["Message-ID"] = message_id
    for name, value in checked_headers.items():
        message[name] = value
    _set_bodies(message, plain_body, html_body)
    for attachment in checked_attachments:
        maintype, subtype, params = attachment.content_type_parts()
        message.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.name, params=params
        )
    recipients = [a.addr_spec for a in (*to_list, *cc_list, *bcc_list)]
    return BuiltMessage(message, author.addr_spec, recipients, message_id.strip("<>"))


def _header_list(addresses: list[EmailAddress]) -> list[Address]:
    return [a.as_address() for a in addresses]


def _set_bodies(message: EmailMessage, plain_body: str | None, html_body: str | None) -> None:
    if plain_body and plain_body.strip():
        message.set_content(plain_body)
        if html_body and html_body.strip():
            message.add_alternative(html_body, subtype="html")
    else:
        message.set_content(html_body or "", subtype="html")
