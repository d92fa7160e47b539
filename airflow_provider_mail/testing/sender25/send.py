"""``send/message`` and ``send/raw`` of the emulated Sender25 (reference doc §3, §4).

Type handling differs by flavour: Moonrope checks declared parameter types first and answers a
``parameter-error``; the Rails controllers take whatever JSON arrives and crash (HTTP 500) on a
type they cannot handle. The emulator applies one documented rule for Rails: a parameter of an
unexpected JSON type is a crash, except ``headers`` (a non-object is ignored) and ``bounce``
(Ruby truthiness). Non-object attachment entries are skipped in both flavours.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

from .mime import (
    CRLF,
    Attachment,
    addresses_in,
    build_body,
    header_line,
    in_mail_order,
    lenient_b64decode,
    message_attributes,
)
from .params import (
    ParameterError,
    ServiceCrash,
    blank,
    moonrope_check,
    ruby_class,
    truthy,
)
from .store import ActionContext, MailServer, strip_name
from .wire import ApiError

ERROR_MESSAGES = {
    "NoRecipients": "There are no recipients defined to receive this message",
    "TooManyToAddresses": "The maximum number of To addresses has been reached (maximum 50)",
    "TooManyCCAddresses": "The maximum number of CC addresses has been reached (maximum 50)",
    "TooManyBCCAddresses": "The maximum number of BCC addresses has been reached (maximum 50)",
    "NoContent": "There is no content defined for this e-mail",
    "FromAddressMissing": "The From address is missing and is required",
    "UnauthenticatedFromAddress": "The From address is not authorised to send mail from this server",
    "AttachmentMissingName": "An attachment is missing a name",
    "AttachmentMissingData": "An attachment is missing data",
}
MAX_ADDRESSES_PER_FIELD = 50
RECEIVED_BY = "postal.emulator.test"

_STRING_PARAMS = ("from", "sender", "subject", "tag", "reply_to", "plain_body", "html_body")
SEND_MESSAGE_SPEC = (
    ("to", "Array", False),
    ("cc", "Array", False),
    ("bcc", "Array", False),
    *((name, "String", False) for name in _STRING_PARAMS),
    ("attachments", "Array", False),
    ("headers", "Hash", False),
    ("bounce", "boolean", False),
)
SEND_RAW_SPEC = (
    ("mail_from", "String", True),
    ("rcpt_to", "Array", True),
    ("data", "String", True),
    ("bounce", "boolean", False),
)
# The MIME structure the prototype builds itself (a custom one would break it).
_STRUCTURE_HEADERS = frozenset({"content-type", "content-transfer-encoding", "mime-version"})
_HEADER_NAME = re.compile(r"[!-9;-~]+")


# -- send/message -----------------------------------------------------------------------------


def send_message(ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
    """Validate a ``send/message`` call and store one message per recipient entry.

    :param ctx: the authenticated server and flavour.
    :param params: the parameter hash.
    :returns: ``data`` of the success envelope.
    :raises ParameterError: Moonrope type errors.
    :raises ApiError: the first validation error.
    :raises ServiceCrash: Rails on unexpected types; either flavour on non-string recipients
        or attachment data.
    """
    values = moonrope_check(params, SEND_MESSAGE_SPEC) if ctx.moonrope else _rails_send_values(params)
    recipients = {name: _recipients(values[name]) for name in ("to", "cc", "bcc")}
    attachments = _attachments(values["attachments"] or [])
    custom_headers = values["headers"] if isinstance(values["headers"], dict) else {}
    error = _first_error(ctx.server, values, recipients, attachments)
    if error is not None:
        raise ApiError(error, ERROR_MESSAGES[error])

    message_id = f"{uuid.uuid4()}@{ctx.backend.return_path_domain}"
    ctx.backend.refresh(ctx.server)  # deliveries due before this insert take their ids first
    now = ctx.backend.clock.now()
    raw = _compose(ctx, values, recipients, attachments, custom_headers, message_id, now)
    subject, stored_message_id = message_attributes(raw)
    mail_from = strip_name(values["from"])
    messages: dict[str, dict[str, Any]] = {}
    for entry in recipients["to"] + recipients["cc"] + recipients["bcc"]:
        address = strip_name(entry)
        # The tag column holds the parameter as given; X-Postal-Tag and X-Postal-MsgID only
        # take effect when the message is first processed (see store.MessageRecord.process).
        record = ctx.server.create_message(
            rcpt_to=address,
            mail_from=mail_from,
            raw=raw,
            timestamp=now,
            tag=values["tag"],
            bounce=truthy(values["bounce"]),
            message_id=stored_message_id,
            subject=subject,
        )
        ctx.stored_ids.append(record.id)
        messages[address] = {"id": record.id, "token": record.token}
    return {"message_id": message_id, "messages": messages}


def _rails_send_values(params: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in ("to", "cc", "bcc"):
        value = params.get(name)
        if value is not None and not isinstance(value, (str, list)):
            raise ServiceCrash(f"undefined method `to_a' for {ruby_class(value)} ({name})")
        values[name] = _ruby_split(value) if isinstance(value, str) else value
    for name in _STRING_PARAMS:
        value = params.get(name)
        if value is not None and not isinstance(value, str):
            raise ServiceCrash(f"{name} is a {ruby_class(value)}")
        values[name] = value
    if params.get("attachments") is not None and not isinstance(params.get("attachments"), list):
        raise ServiceCrash(f"undefined method `each' for {ruby_class(params.get('attachments'))}")
    values["attachments"] = params.get("attachments")
    values["headers"] = params.get("headers")
    values["bounce"] = truthy(params.get("bounce"))
    return values


def _ruby_split(value: str) -> list[str]:
    # Ruby's String#split drops trailing empty fields (and "" splits into nothing).
    parts = re.split(r",\s*", value)
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def _recipients(value: list[Any] | None) -> list[str]:
    entries = value or []
    for entry in entries:
        if not isinstance(entry, str):
            raise ServiceCrash(f"undefined method `gsub' for {ruby_class(entry)} (recipient)")
    return entries


def _attachments(entries: list[Any]) -> list[tuple[Any, Attachment]]:
    """Decode attachment entries; returns (name as given, attachment) pairs.

    Postal's ``OutgoingMessagePrototype#attachments`` (``app/models/outgoing_message_prototype.rb``)
    decodes ``data`` only when it is present: null or missing data stays nil, which ``validate``
    reports as ``AttachmentMissingData`` (``AttachmentMissingName`` first when the name is blank
    too) — never a crash. Data of another JSON type does crash (``Base64.decode64(5)``).
    """
    decoded = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        name, content_type, data = entry.get("name"), entry.get("content_type"), entry.get("data")
        if data is not None and not isinstance(data, str):  # Base64.decode64(5 / [] / true) raises
            raise ServiceCrash(f"undefined method `unpack1' for {ruby_class(data)} (attachment data)")
        for label, value in (("name", name), ("content_type", content_type)):
            if value is not None and not isinstance(value, str):
                raise ServiceCrash(f"attachment {label} is a {ruby_class(value)}")
        # `content_type || "application/octet-stream"`: a given type is kept with its parameters.
        kind = "application/octet-stream" if content_type is None else content_type
        payload = b"" if data is None else lenient_b64decode(data)
        decoded.append((name, Attachment(name or "", kind, payload)))
    return decoded


def _first_error(
    server: MailServer,
    values: dict[str, Any],
    recipients: dict[str, list[str]],
    attachments: list[tuple[Any, Attachment]],
) -> str | None:
    """Run every check of ``OutgoingMessagePrototype#validate``; return the first failing code."""
    errors = []
    if not any(recipients.values()):
        errors.append("NoRecipients")
    for name, code in (
        ("to", "TooManyToAddresses"),
        ("cc", "TooManyCCAddresses"),
        ("bcc", "TooManyBCCAddresses"),
    ):
        if len(recipients[name]) > MAX_ADDRESSES_PER_FIELD:
            errors.append(code)
    if blank(values["plain_body"]) and blank(values["html_body"]):
        errors.append("NoContent")
    if blank(values["from"]):
        errors.append("FromAddressMissing")
    if not (
        server.authorises(values["from"]) or (server.allow_sender and server.authorises(values["sender"]))
    ):
        errors.append("UnauthenticatedFromAddress")
    for name, attachment in attachments:
        if blank(name):
            code = "AttachmentMissingName"
        elif not attachment.data.strip():  # empty or whitespace-only decoded data is blank
            code = "AttachmentMissingData"
        else:
            continue
        if code not in errors:
            errors.append(code)
    return errors[0] if errors else None


def _compose(
    ctx: ActionContext,
    values: dict[str, Any],
    recipients: dict[str, list[str]],
    attachments: list[tuple[Any, Attachment]],
    custom_headers: dict[str, Any],
    message_id: str,
    now: float,
) -> bytes:
    """Build the RFC 822 message shared by all recipients, as Postal's Mail gem does.

    ``OutgoingMessagePrototype#raw_message`` (``app/models/outgoing_message_prototype.rb``) sets
    the custom headers first, then assigns To/Cc (only when given), From, Sender, Subject,
    Reply-To (always: a nil parameter deletes a custom header of that name), the MIME parts,
    Received and Message-ID. Mail renders known fields in its fixed order and custom ones last.
    X-Postal-MsgID is not part of it: it is added when the message is first processed.
    """
    # Fields a parameter always (re)assigns, and the MIME structure Mail builds itself.
    replaced = {"from", "sender", "subject", "reply-to", "message-id"} | _STRUCTURE_HEADERS
    replaced |= {name for name in ("to", "cc") if recipients[name]}
    fields: list[tuple[str, bytes]] = []
    for key, value in custom_headers.items():
        name = str(key).replace("_", "-")  # Mail dasherizes header names
        if name.lower() in replaced or not _HEADER_NAME.fullmatch(name):
            continue
        fields.append((name, header_line(name, _ruby_to_s(value))))
    date = format_datetime(datetime.fromtimestamp(now, timezone.utc))
    received = f"from api ({ctx.client_ip} [{ctx.client_ip}]) by {RECEIVED_BY} with HTTP; {date}"
    fields.append(("Received", header_line("Received", received)))
    if not any(name.lower() == "date" for name, _ in fields):
        fields.append(("Date", header_line("Date", date)))  # Mail adds Date unless there is one
    for name, key in (("From", "from"), ("Sender", "sender"), ("Reply-To", "reply_to")):
        if values[key] is not None:
            fields.append((name, header_line(name, values[key], address=True)))
    if recipients["to"]:
        fields.append(("To", header_line("To", ", ".join(recipients["to"]), address=True)))
    if recipients["cc"]:
        fields.append(("Cc", header_line("Cc", ", ".join(recipients["cc"]), address=True)))
    fields.append(("Message-ID", header_line("Message-ID", f"<{message_id}>")))
    if values["subject"] is not None:
        fields.append(("Subject", header_line("Subject", values["subject"])))
    plain = None if blank(values["plain_body"]) else values["plain_body"]
    html = None if blank(values["html_body"]) else values["html_body"]
    mime_fields, body = build_body(plain, html, [attachment for _, attachment in attachments], _mime_boundary)
    return in_mail_order(fields + mime_fields) + CRLF + body


def _mime_boundary() -> str:
    # The Mail gem's boundary style: "--==_mimepart_" and a random tag.
    return f"--==_mimepart_{secrets.token_hex(8)}_{secrets.token_hex(4)}"


def _ruby_to_s(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


# -- send/raw ---------------------------------------------------------------------------------


def send_raw(ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
    """Check a ``send/raw`` call's From headers and store the raw message per recipient.

    :param ctx: the authenticated server and flavour.
    :param params: the parameter hash.
    :returns: ``data`` of the success envelope.
    :raises ParameterError: a missing or (Moonrope) mistyped parameter.
    :raises ApiError: ``UnauthenticatedFromAddress``.
    :raises ServiceCrash: non-string values the Rails code cannot handle.
    """
    if ctx.moonrope:
        values = moonrope_check(params, SEND_RAW_SPEC)
        rcpt_to, mail_from, data, bounce = (
            values["rcpt_to"],
            values["mail_from"],
            values["data"],
            values["bounce"],
        )
    else:
        rcpt_to, mail_from, data = params.get("rcpt_to"), params.get("mail_from"), params.get("data")
        if not isinstance(rcpt_to, list):
            raise ParameterError("`rcpt_to` parameter is required but is missing")
        for name, value in (("mail_from", mail_from), ("data", data)):
            if blank(value):
                raise ParameterError(f"`{name}` parameter is required but is missing")
            if not isinstance(value, str):
                raise ServiceCrash(f"{name} is a {ruby_class(value)}")
        bounce = truthy(params.get("bounce"))
    _recipients(rcpt_to)

    raw = lenient_b64decode(data)
    header_block = raw.split(CRLF + CRLF, 1)[0]
    if not _raw_from_authorised(ctx.server, header_block):
        message = ERROR_MESSAGES["UnauthenticatedFromAddress"] if ctx.moonrope else None
        raise ApiError("UnauthenticatedFromAddress", message)

    subject, message_id = message_attributes(raw)
    ctx.backend.refresh(ctx.server)  # deliveries due before this insert take their ids first
    now = ctx.backend.clock.now()
    messages: dict[str, dict[str, Any]] = {}
    for recipient in dict.fromkeys(rcpt_to):  # exact-string de-duplication, order kept
        record = ctx.server.create_message(
            rcpt_to=recipient,
            mail_from=mail_from,
            raw=raw,
            timestamp=now,
            tag=None,
            bounce=bounce,
            message_id=message_id,
            subject=subject,
        )
        ctx.stored_ids.append(record.id)
        messages[recipient] = {"id": record.id, "token": record.token}
    return {"message_id": message_id if messages else None, "messages": messages}


def _raw_from_authorised(server: MailServer, header_block: bytes) -> bool:
    """Every From address authorised — or, with "allow sender", every Sender address."""
    checked = ("From", "Sender") if server.allow_sender else ("From",)
    for header in checked:
        addresses = addresses_in(header_block, header) or [""]  # no header: one blank value
        if all(server.authorises(address) for address in addresses):
            return True
    return False
