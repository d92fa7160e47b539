"""Validate arguments and build Sender25 request bodies: the one builder for sync and async paths.

The checks mirror the server's own order and codes (``outgoing_message_prototype.rb``), so a
request that would be refused is refused here, before any network call, with the same ``code``.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable, Iterable, Mapping
from email import message_from_bytes
from email.message import Message
from typing import Any, TypeVar

from airflow_provider_mail._shared.addresses import (
    dedupe_recipients,
    header_text,
    parse_address,
    parse_address_list,
    parse_message_parts,
    validated_headers,
)
from airflow_provider_mail._shared.attachment import AttachmentLike, coerce_attachments
from airflow_provider_mail._shared.raw_message import encode_message_text, message_as_bytes
from airflow_provider_mail.exceptions import MailValidationError, Sender25ValidationError

_F = TypeVar("_F", bound=Callable[..., Any])

MAX_ADDRESSES_PER_FIELD = 50

#: Every expansion of ``messages/message``; sent as an explicit list, never ``true`` (500 on 3.3.1-3.3.2).
ALL_EXPANSIONS = (
    "status",
    "details",
    "inspection",
    "plain_body",
    "html_body",
    "attachments",
    "headers",
    "raw_message",
    "activity_entries",
)

_TOO_MANY = {
    "to": ("TooManyToAddresses", "The maximum number of To addresses has been reached (maximum 50)"),
    "cc": ("TooManyCCAddresses", "The maximum number of CC addresses has been reached (maximum 50)"),
    "bcc": ("TooManyBCCAddresses", "The maximum number of BCC addresses has been reached (maximum 50)"),
}


def as_sender25_error(function: _F) -> _F:
    """Re-raise the shared validators' :class:`MailValidationError` as :class:`Sender25ValidationError`.

    :param function: a payload builder.
    """

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Sender25ValidationError:
            raise
        except MailValidationError as err:
            raise Sender25ValidationError(err.message, code=err.code) from None

    return wrapper  # type: ignore[return-value]


@as_sender25_error
def build_send_message_payload(
    *,
    to: str | Iterable[str] | None,
    from_email: str | None,
    subject: str | None = None,
    plain_body: str | None = None,
    html_body: str | None = None,
    cc: str | Iterable[str] | None = None,
    bcc: str | Iterable[str] | None = None,
    sender: str | None = None,
    reply_to: str | None = None,
    tag: str | None = None,
    headers: Mapping[str, Any] | None = None,
    attachments: Iterable[AttachmentLike] | None = None,
    bounce: bool = False,
) -> dict[str, Any]:
    """Validate a ``send/message`` request and return its JSON body.

    Recipients are de-duplicated case-insensitively across to, cc and bcc (first place wins).
    Raises :class:`Sender25ValidationError` with the server's code for the first failing check.

    :param to: recipients (list, or a string separated by commas/semicolons).
    :param from_email: the From address, ``addr`` or ``Name <addr>``.
    :param subject: the subject line (one line).
    :param plain_body: the text body.
    :param html_body: the HTML body; with ``plain_body`` the mail is multipart/alternative.
    :param cc: Cc recipients.
    :param bcc: Bcc recipients.
    :param sender: the ``Sender:`` header.
    :param reply_to: the ``Reply-To:`` address.
    :param tag: Postal's message tag.
    :param headers: extra headers (values are stringified).
    :param attachments: files, see :func:`coerce_attachment`.
    :param bounce: mark the message as a bounce (sent with an empty envelope sender).
    """
    to_list, cc_list, bcc_list, plain_body, html_body = parse_message_parts(
        to=to, cc=cc, bcc=bcc, from_email=from_email, plain_body=plain_body, html_body=html_body
    )
    if not (to_list or cc_list or bcc_list):
        raise Sender25ValidationError(
            "There are no recipients defined to receive this message (`to`, `cc` and `bcc` are empty)",
            code="NoRecipients",
        )
    for field, addresses in (("to", to_list), ("cc", cc_list), ("bcc", bcc_list)):
        if len(addresses) > MAX_ADDRESSES_PER_FIELD:
            code, text = _TOO_MANY[field]
            raise Sender25ValidationError(f"{text}: `{field}` has {len(addresses)}", code=code)
    if not _has_text(plain_body) and not _has_text(html_body):
        raise Sender25ValidationError(
            "There is no content defined for this e-mail (`plain_body` and `html_body` are empty)",
            code="NoContent",
        )
    if not _has_text(from_email):
        raise Sender25ValidationError(
            "The From address is missing and is required (`from_email`)", code="FromAddressMissing"
        )
    payload: dict[str, Any] = {
        "to": [a.header_value for a in to_list],
        "cc": [a.header_value for a in cc_list],
        "bcc": [a.header_value for a in bcc_list],
        "from": parse_address(str(from_email), argument="from_email").header_value,
    }
    if sender:
        payload["sender"] = parse_address(sender, argument="sender").header_value
    if reply_to:
        payload["reply_to"] = parse_address(reply_to, argument="reply_to").header_value
    for argument, value in (("subject", subject), ("tag", tag)):
        if value is not None:
            payload[argument] = header_text(value, argument=argument)
    if _has_text(plain_body):
        payload["plain_body"] = plain_body
    if _has_text(html_body):
        payload["html_body"] = html_body
    checked_headers = validated_headers(headers)
    if checked_headers:
        payload["headers"] = checked_headers
    if attachments is not None:
        checked_attachments = _attachment_payloads(attachments)
        if checked_attachments:
            payload["attachments"] = checked_attachments
    if not isinstance(bounce, bool):
        raise Sender25ValidationError("`bounce` must be True or False", code="InvalidArgument")
    payload["bounce"] = bounce
    return payload


@as_sender25_error
def build_send_raw_payload(
    *, mail_from: str, rcpt_to: str | Iterable[str] | None, data: bytes | str | Message, bounce: bool = False
) -> dict[str, Any]:
    """Validate a ``send/raw`` request and return its JSON body.

    :param mail_from: the envelope sender (``MAIL FROM``), a bare address.
    :param rcpt_to: envelope recipients; de-duplicated case-insensitively; at least one.
    :param data: the complete RFC 2822 message: bytes, text, or an ``email.message.Message``.
    :param bounce: mark the message as a bounce.
    """
    if mail_from is not None and not isinstance(mail_from, str):
        parse_address(mail_from, argument="mail_from")  # raises InvalidAddress naming the type
    if not _has_text(mail_from):
        raise Sender25ValidationError("`mail_from` is required for a raw send", code="FromAddressMissing")
    envelope_from = parse_address(mail_from, argument="mail_from").addr_spec
    (recipients,) = dedupe_recipients(parse_address_list(rcpt_to, argument="rcpt_to"))
    if not recipients:
        raise Sender25ValidationError(
            "`rcpt_to` is empty: a raw send needs at least one envelope recipient", code="NoRecipients"
        )
    raw = raw_message_bytes(data)
    header_block = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    if message_from_bytes(header_block + b"\r\n\r\n").get("From") is None:
        raise Sender25ValidationError(
            "the raw message (`data`) has no From header; the service would refuse it",
            code="FromAddressMissing",
        )
    if not isinstance(bounce, bool):
        raise Sender25ValidationError("`bounce` must be True or False", code="InvalidArgument")
    return {
        "mail_from": envelope_from,
        "rcpt_to": [a.addr_spec for a in recipients],
        "data": base64.b64encode(raw).decode("ascii"),
        "bounce": bounce,
    }


def raw_message_bytes(data: bytes | str | Message) -> bytes:
    """Return a message as CRLF bytes.

    :param data: bytes (sent unchanged), text (UTF-8) or a ``Message`` (serialised with the SMTP policy).
    """
    if isinstance(data, Message):
        return message_as_bytes(data)
    if isinstance(data, str):
        return encode_message_text(data)
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise Sender25ValidationError(
        f"`data` must be bytes, str or an email.message.Message, got {type(data).__name__}",
        code="InvalidArgument",
    )


def build_message_query(
    message_id: int | str, expansions: Iterable[str] | bool | None = ()
) -> dict[str, Any]:
    """Return the body of ``messages/message`` / ``messages/deliveries``: an int id, an explicit list.

    :param message_id: the per-server message id (an int, or a string of digits).
    :param expansions: names to expand; ``True`` means all of :data:`ALL_EXPANSIONS`.
    """
    body: dict[str, Any] = {"id": coerce_message_id(message_id)}
    if expansions is True:
        body["_expansions"] = list(ALL_EXPANSIONS)
    elif expansions is not None and expansions is not False:
        body["_expansions"] = [str(name) for name in expansions]
    else:
        body["_expansions"] = []
    return body


def coerce_message_id(message_id: Any) -> int:
    """Return a message id as an int (the Rails flavour answers HTTP 500 to a string id).

    :param message_id: an int or a string of digits.
    """
    if isinstance(message_id, bool):
        raise Sender25ValidationError(
            f"message id must be an integer, got {message_id!r}", code="InvalidArgument"
        )
    if isinstance(message_id, int):
        return message_id
    if isinstance(message_id, str) and message_id.strip().isdigit():
        return int(message_id.strip())
    raise Sender25ValidationError(
        f"message id must be an integer, got {message_id!r}", code="InvalidArgument"
    )


def _has_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _attachment_payloads(attachments: Iterable[AttachmentLike]) -> list[dict[str, str]]:
    payloads = []
    for index, attachment in enumerate(coerce_attachments(attachments)):
        # Postal's own rule (``blank?``): data that is empty or only whitespace is refused.
        if not attachment.data.strip():
            raise Sender25ValidationError(
                f"An attachment is missing data (attachments[{index}] {attachment.name!r} is empty)",
                code="AttachmentMissingData",
            )
        payloads.append(
            {
                "name": attachment.name,
                "content_type": attachment.resolved_content_type,
                "data": base64.b64encode(attachment.data).decode("ascii"),
            }
        )
    return payloads
