"""The attachment type every sender shares, and the forms a caller may give it in (pure, no I/O)."""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_mail.exceptions import MailValidationError


@dataclass(frozen=True)
class Attachment:
    """A file to attach.

    :param name: the file name shown to the recipient (non-ASCII allowed).
    :param data: the file's bytes.
    :param content_type: MIME type; guessed from ``name`` when ``None``.
    """

    name: str
    data: bytes
    content_type: str | None = None

    @property
    def resolved_content_type(self) -> str:
        """The given content type, else the one guessed from the name, else ``application/octet-stream``."""
        return self.content_type or mimetypes.guess_type(self.name)[0] or "application/octet-stream"


AttachmentLike = Attachment | Mapping[str, Any] | Sequence[Any]


def coerce_attachment(item: AttachmentLike, *, index: int) -> Attachment:
    """Turn an :class:`Attachment`, a dict (``name``, ``data``, ``content_type``) or a tuple into one.

    ``str`` data is encoded as UTF-8 text.

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
    if data is not None and not isinstance(data, (bytes, bytearray, memoryview)):
        raise MailValidationError(
            f"attachments[{index}] data must be bytes or str, got {type(data).__name__}",
            code="InvalidArgument",
        )
    return Attachment(
        name=name if isinstance(name, str) else "",
        data=bytes(data or b""),
        content_type=content_type if isinstance(content_type, str) else None,
    )
