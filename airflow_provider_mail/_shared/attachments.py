"""Load attachments from the forms a DAG author has at hand, with a size limit checked before sending.

Accepted: a local path (``str`` or ``os.PathLike``), an object-storage URL (``s3://…``, ``file://…``) or
``ObjectStoragePath``, an :class:`~airflow_provider_mail._sender25.payload.Attachment`, a dict
(``name``, ``data``, ``content_type``) or a ``(filename, bytes[, content_type])`` tuple.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow_provider_mail._shared.attachment import Attachment, coerce_attachment
from airflow_provider_mail.exceptions import MailValidationError

#: Default limit of the base64-encoded attachments of one message (what travels inside the JSON).
DEFAULT_MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024


def encoded_size(raw_size: int) -> int:
    """Size in bytes of ``raw_size`` bytes once base64-encoded (4 characters per 3 bytes).

    :param raw_size: the size of the file.
    """
    return 4 * ((raw_size + 2) // 3)


def load_attachments(
    items: Iterable[Any] | str | os.PathLike | None,
    *,
    max_total_bytes: int | None = DEFAULT_MAX_ATTACHMENT_BYTES,
) -> list[Attachment]:
    """Read every attachment and check the encoded total against ``max_total_bytes``.

    :param items: one item or a list of items in any accepted form.
    :param max_total_bytes: limit of the base64-encoded total; ``None`` disables the check.
    """
    if items is None:
        return []
    if isinstance(items, (str, os.PathLike)) or not isinstance(items, Iterable) or isinstance(items, Mapping):
        items = [items]
    attachments: list[Attachment] = []
    total = 0
    for index, item in enumerate(items):
        attachment = _load_one(item, index)
        total += encoded_size(len(attachment.data))
        if max_total_bytes is not None and total > max_total_bytes:
            raise MailValidationError(
                f"attachment {attachment.name!r} brings the message to {total:,} bytes once base64-encoded, "
                f"over the limit of {max_total_bytes:,} (max_attachment_size); send a link instead or raise "
                "the limit if the service accepts it",
                code="AttachmentTooLarge",
            )
        attachments.append(attachment)
    return attachments


def _load_one(item: Any, index: int) -> Attachment:
    if isinstance(item, (Attachment, Mapping)) or (
        isinstance(item, Sequence) and not isinstance(item, (str, bytes))
    ):
        return coerce_attachment(item, index=index)
    if isinstance(item, str) and "://" in item:
        from airflow_provider_mail._compat import ObjectStoragePath

        item = ObjectStoragePath(item)
    if hasattr(item, "read_bytes") and not isinstance(item, Path):
        return _read(item, str(item), getattr(item, "name", str(item)))
    if isinstance(item, (str, os.PathLike)):
        path = Path(item).expanduser()
        return _read(path, str(path), path.name)
    raise MailValidationError(
        f"attachments[{index}] is a {type(item).__name__}; give a path, a URL, an ObjectStoragePath, "
        "or a (filename, bytes, content_type) tuple",
        code="InvalidArgument",
    )


def _read(source: Any, shown: str, name: str) -> Attachment:
    try:
        data = source.read_bytes()
    except (FileNotFoundError, IsADirectoryError, PermissionError) as err:
        raise MailValidationError(
            f"attachment {shown!r} cannot be read: {err.strerror or err}", code="AttachmentNotFound"
        ) from err
    return Attachment(name=name, data=data)
