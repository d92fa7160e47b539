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
import uuid
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

from .mime import (
    CRLF,
    Attachment,
    addresses_in,
    build_body,
    first_header,
    header_line,
    lenient_b64decode,
    message_id_of,
)
from .params import (
    ParameterError,
    ServiceCrash,
    blank,
    moonrope_check,
    ruby_class,
    truthy,
)
from .store import ActionContext, MailServer, new_token, strip_name
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
# Headers the prototype (re)sets from parameters, and the MIME structure it builds itself.
_PARAM_HEADERS = frozenset({"to", "cc", "from", "sender", "subject", "reply-to", "message-id"})
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

    tag = values["tag"] if not blank(values["tag"]) else _custom_header(custom_headers, "X-Postal-Tag")
    message_id = f"{uuid.uuid4()}@{ctx.backend.return_path_domain}"
    now = ctx.backend.clock.now()
    shared = _compose(ctx, values, recipients, attachments, custom_headers, message_id, now)
    mail_from = strip_name(values["from"])
    messages: dict[str, dict[str, Any]] = {}
    for entry in recipients["to"] + recipients["cc"] + recipients["bcc"]:
        address = strip_name(entry)
        token = new_token()
        record = ctx.server.create_message(
            rcpt_to=address,
            mail_from=mail_from,
            raw=header_line("X-Postal-MsgID", token) + shared,
            timestamp=now,
            tag=tag,
            bounce=truthy(values["bounce"]),
            message_id=message_id,
            subject=values["subject"],
            token=token,
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
    """Decode attachment entries; returns (name as given, attachment) pairs."""
    decoded = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        name, content_type, data = entry.get("name"), entry.get("content_type"), entry.get("data")
        if not isinstance(data, str):  # Base64.decode64(nil / 5) raises
            raise ServiceCrash(f"undefined method `unpack1' for {ruby_class(data)} (attachment data)")
        for label, value in (("name", name), ("content_type", content_type)):
            if value is not None and not isinstance(value, str):
                raise ServiceCrash(f"attachment {label} is a {ruby_class(value)}")
        kind = "application/octet-stream" if content_type is None else content_type
        decoded.append((name, Attachment(name or "", kind, lenient_b64decode(data))))
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
    """Build the RFC 822 message shared by all recipients (without X-Postal-MsgID)."""
    custom = [(str(name), _ruby_to_s(value)) for name, value in custom_headers.items()]
    custom_names = {name.lower() for name, _ in custom}
    date = format_datetime(datetime.fromtimestamp(now, timezone.utc))
    lines = [
        header_line(
            "Received", f"from api ({ctx.client_ip} [{ctx.client_ip}]) by {RECEIVED_BY} with HTTP; {date}"
        )
    ]
    if "date" not in custom_names:
        lines.append(header_line("Date", date))
    for header, value in (
        ("From", values["from"]),
        ("Sender", values["sender"]),
        ("Reply-To", values["reply_to"]),
    ):
        if not blank(value):
            lines.append(header_line(header, value, address=True))
    if recipients["to"]:
        lines.append(header_line("To", ", ".join(recipients["to"]), address=True))
    if recipients["cc"]:
        lines.append(header_line("Cc", ", ".join(recipients["cc"]), address=True))
    lines.append(header_line("Message-ID", f"<{message_id}>"))
    if values["subject"] is not None:
        lines.append(header_line("Subject", values["subject"]))
    for name, value in custom:
        lowered = name.lower()
        if lowered in _PARAM_HEADERS or lowered in _STRUCTURE_HEADERS or not _HEADER_NAME.fullmatch(name):
            continue
        lines.append(header_line(name, value))
    plain = None if blank(values["plain_body"]) else values["plain_body"]
    html = None if blank(values["html_body"]) else values["html_body"]
    body = build_body(plain, html, [attachment for _, attachment in attachments])
    return b"".join(lines) + body


def _ruby_to_s(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _custom_header(headers: dict[str, Any], name: str) -> str | None:
    for key, value in headers.items():
        if str(key).lower() == name.lower() and not blank(value):
            return _ruby_to_s(value)
    return None


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

    message_id = message_id_of(header_block)
    subject = first_header(header_block, "Subject")
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
