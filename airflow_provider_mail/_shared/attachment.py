"""The attachment type every sender shares, and the forms a caller may give it in (pure, no I/O).

An :class:`Attachment` checks itself when built, so a bad name or content type is refused the same
way (a service-neutral :class:`~airflow_provider_mail.exceptions.MailValidationError`) whether the
message then goes to Sender25 or to the xmailer SMTP relay.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_mail._shared.addresses import reject_line_breaks
from airflow_provider_mail.exceptions import MailValidationError

_TOKEN = r"[A-Za-z0-9!#$%&'*+.^_`{|}~-]+"
#: ``type/subtype`` with optional ``; name=value`` parameters (RFC 2045 tokens or quoted strings).
_CONTENT_TYPE = re.compile(
    rf"^(?P<type>{_TOKEN})/(?P<subtype>{_TOKEN})"
    rf"(?P<params>(?:\s*;\s*{_TOKEN}=(?:{_TOKEN}|\"(?:[^\"\\]|\\.)*\"))*)\s*;?\s*$"
)
_PARAMETER = re.compile(rf"({_TOKEN})=({_TOKEN}|\"(?:[^\"\\]|\\.)*\")")


@dataclass(frozen=True)
class Attachment:
    """A file to attach; checked when built.

    :param name: the file name shown to the recipient (non-ASCII allowed, one line, not empty).
    :param data: the file's bytes (``bytearray``/``memoryview`` are copied to ``bytes``).
    :param content_type: MIME type, ``type/subtype`` with optional parameters; guessed from ``name``
        when ``None``.
    """

    name: str
    data: bytes
    content_type: str | None = None

    def __post_init__(self) -> None:
        if self.name is None or (isinstance(self.name, str) and not self.name.strip()):
            raise MailValidationError("An attachment is missing a name", code="AttachmentMissingName")
        if not isinstance(self.name, str):
            raise MailValidationError(
                f"an attachment name must be a string, got {type(self.name).__name__}", code="InvalidArgument"
            )
        reject_line_breaks(self.name, argument="attachment name")
        if isinstance(self.data, (bytearray, memoryview)):
            object.__setattr__(self, "data", bytes(self.data))
        if not isinstance(self.data, bytes):
            raise MailValidationError(
                f"attachment {self.name!r} data must be bytes, got {type(self.data).__name__}",
                code="InvalidArgument",
            )
        if self.content_type is not None:
            if not isinstance(self.content_type, str):
                raise MailValidationError(
                    f"attachment {self.name!r} content_type must be a string, got "
                    f"{type(self.content_type).__name__}",
                    code="InvalidArgument",
                )
            reject_line_breaks(self.content_type, argument=f"attachment {self.name!r} content_type")
            if not _CONTENT_TYPE.match(self.content_type):
                raise MailValidationError(
                    f"attachment {self.name!r} has an invalid content_type {self.content_type!r}; "
                    "expected type/subtype, e.g. 'application/pdf' or 'text/csv; charset=utf-8'",
                    code="InvalidArgument",
                )

    @property
    def resolved_content_type(self) -> str:
        """The given content type, else the one guessed from the name, else ``application/octet-stream``."""
        return self.content_type or mimetypes.guess_type(self.name)[0] or "application/octet-stream"

    def content_type_parts(self) -> tuple[str, str, dict[str, str]]:
        """The resolved content type split into main type, subtype and parameters (for MIME parts)."""
        match = _CONTENT_TYPE.match(self.resolved_content_type)
        if match is None:  # a guessed type is always well-formed; a given one was checked
            return "application", "octet-stream", {}
        params = {
            key.lower(): value[1:-1].replace('\\"', '"') if value.startswith('"') else value
            for key, value in _PARAMETER.findall(match["params"])
        }
        return match["type"].lower(), match["subtype"].lower(), params


AttachmentLike = Attachment | Mapping[str, Any] | Sequence[Any]


def coerce_attachment(item: AttachmentLike, *, index: int) -> Attachment:
    """Turn an :class:`Attachment`, a dict (``name``, ``data``, ``content_type``) or a tuple into one.

    ``str`` data is encoded as UTF-8 text. Errors name ``attachments[index]``.

    :param item: the attachment in any accepted form.
    :param index: its position, for error messages.
    """
    if isinstance(item, Attachment):
        return item
    if isinstance(item, Mapping):
        name, data, content_type = item.get("name"), item.get("data"), item.get("content_type")
    elif isinstance(item, Sequence) and not isinstance(item, (str, bytes)) and len(item) in (2, 3):
        name, data = item[0], item[1]
        content_type = item[2] if len(item) == 3 else None
    else:
        raise MailValidationError(
            f"attachments[{index}] must be an Attachment, a dict with name/data/content_type, "
            f"or a (name, data[, content_type]) tuple; got {type(item).__name__}",
            code="InvalidArgument",
        )
    if isinstance(data, str):
        data = data.encode("utf-8")
    if data is None:
        data = b""
    try:
        return Attachment(name=name, data=data, content_type=content_type)  # type: ignore[arg-type]
    except MailValidationError as err:
        raise MailValidationError(f"attachments[{index}]: {err.message}", code=err.code or "") from None


def coerce_attachments(items: Iterable[AttachmentLike] | None) -> list[Attachment]:
    """Check a whole ``attachments`` argument: ``None`` or an iterable of attachment forms.

    :param items: the argument's value.
    """
    if items is None:
        return []
    if isinstance(items, (str, bytes, Mapping, Attachment)) or not isinstance(items, Iterable):
        raise MailValidationError(
            f"`attachments` must be a list of attachments, got {type(items).__name__}", code="InvalidArgument"
        )
    return [coerce_attachment(item, index=index) for index, item in enumerate(items)]
