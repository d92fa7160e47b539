"""``messages/message`` and ``messages/deliveries`` of the emulated Sender25 (reference doc §5, §6)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from .mime import attachments_of, body_text, header_map, mime_b64encode
from .params import ParameterError, ServiceCrash, blank, moonrope_value, ruby_class
from .store import ActionContext, MessageRecord
from .wire import RAILS_3_3_1, ApiError

EXPANSIONS = (
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
_MISSING_ID = "`id` parameter is required but is missing"


def message(ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
    """Return a message's id and token plus the requested expansions.

    :param ctx: the authenticated server and flavour.
    :param params: ``id`` and ``_expansions``.
    :raises ParameterError: ``id`` missing (or, in Moonrope, not an integer).
    :raises ApiError: ``MessageNotFound``.
    :raises ServiceCrash: Rails with a non-integer ``id``; rails-3.3.1 with ``_expansions``
        neither an array nor a string.
    """
    record = _find(ctx, params)
    data: dict[str, Any] = {"id": record.id, "token": record.token}
    for name in selected_expansions(ctx.flavour, params.get("_expansions")):
        data[name] = _RENDERERS[name](record)
    return data


def deliveries(ctx: ActionContext, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Return a message's delivery attempts, oldest first (``[]`` while Pending).

    :param ctx: the authenticated server and flavour.
    :param params: ``id``.
    """
    return [row.as_api() for row in _find(ctx, params).deliveries]


def selected_expansions(flavour: str, requested: Any) -> tuple[str, ...]:
    """Which expansions ``_expansions`` selects, in the wire's fixed order.

    :param flavour: the emulated flavour.
    :param requested: the raw ``_expansions`` value.
    :raises ServiceCrash: rails-3.3.1 when ``requested`` is neither a list nor a string (it
        called ``include?`` on it).
    """
    if flavour == RAILS_3_3_1:
        if isinstance(requested, (list, str)):  # a string matches by substring there
            return tuple(name for name in EXPANSIONS if name in requested)
        raise ServiceCrash(f"undefined method `include?' for {ruby_class(requested)}")
    if requested is True:
        return EXPANSIONS
    if isinstance(requested, list):
        return tuple(name for name in EXPANSIONS if name in requested)
    return ()


def _find(ctx: ActionContext, params: dict[str, Any]) -> MessageRecord:
    if ctx.moonrope:
        message_id = moonrope_value(params, "id")
        if message_id is None or message_id is False:
            raise ParameterError(_MISSING_ID)
        if not isinstance(message_id, int) or isinstance(message_id, bool):
            raise ParameterError(f"`id` should be a `Integer` but is a `{ruby_class(message_id)}`")
    else:
        message_id = params.get("id")
        if blank(message_id):
            raise ParameterError(_MISSING_ID)
        if not isinstance(message_id, int) or isinstance(message_id, bool):
            raise ServiceCrash(f"message lookup cannot handle a {ruby_class(message_id)} id")
    ctx.backend.refresh(ctx.server)
    record = ctx.server.messages.get(message_id)
    if record is None:
        raise ApiError("MessageNotFound", "No message found matching provided ID", {"id": message_id})
    return record


def _details(record: MessageRecord) -> dict[str, Any]:
    return {
        "rcpt_to": record.rcpt_to,
        "mail_from": record.mail_from,
        "subject": record.subject,
        "message_id": record.message_id,
        "timestamp": record.timestamp,
        "direction": record.scope,
        "size": str(record.size),  # a varchar column: the wire carries a string
        "bounce": record.bounce,
        "bounce_for_id": 0,
        "tag": record.tag,
        "received_with_ssl": record.received_with_ssl,
    }


def _inspection(record: MessageRecord) -> dict[str, Any]:
    return {"inspected": False, "spam": False, "spam_score": 0.0, "threat": False, "threat_details": None}


def _attachments(record: MessageRecord) -> list[dict[str, Any]]:
    return [
        {
            "filename": item.filename,
            "content_type": item.content_type,
            "data": mime_b64encode(item.data),
            "size": len(item.data),
            "hash": hashlib.sha1(item.data, usedforsecurity=False).hexdigest(),
        }
        for item in attachments_of(record.raw)
    ]


_RENDERERS: dict[str, Callable[[MessageRecord], Any]] = {
    "status": MessageRecord.status_expansion,
    "details": _details,
    "inspection": _inspection,
    "plain_body": lambda record: body_text(record.raw, "plain"),
    "html_body": lambda record: body_text(record.raw, "html"),
    "attachments": _attachments,
    "headers": lambda record: header_map(record.raw),
    "raw_message": lambda record: mime_b64encode(record.raw),
    "activity_entries": lambda record: {"loads": [], "clicks": []},
}
