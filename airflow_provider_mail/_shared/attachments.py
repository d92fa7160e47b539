"""Load attachments from the forms a DAG author has at hand, with a size limit checked before reading.

Accepted: a local path (``str`` or ``os.PathLike``), an object-storage URL (``s3://…``, ``file://…``) or
``ObjectStoragePath``, an :class:`~airflow_provider_mail._shared.attachment.Attachment`, a dict
(``name``, ``data``, ``content_type``) or a ``(filename, bytes[, content_type])`` tuple.

Files are read defensively: only regular files (a FIFO would block the task forever, a device or a
``/proc`` entry is never meant as an attachment and may leak secrets), the size is checked from
``stat`` before reading, and the read itself is bounded to the remaining budget plus one byte, so a
file that grows while being read is refused instead of filling the worker's memory.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_mail._shared.attachment import Attachment, coerce_attachment
from airflow_provider_mail.exceptions import MailValidationError

#: Default limit of the base64-encoded attachments of one message (what travels inside the JSON).
DEFAULT_MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024

#: Kernel pseudo-file systems: their files claim to be regular but have no real size.
_PSEUDO_ROOTS = ("/proc", "/sys", "/dev")
_CHUNK = 1024 * 1024


def encoded_size(raw_size: int) -> int:
    """Size in bytes of ``raw_size`` bytes once base64-encoded (4 characters per 3 bytes).

    :param raw_size: the size of the file.
    """
    return 4 * ((raw_size + 2) // 3)


def raw_budget(encoded_budget: int) -> int:
    """The largest file size whose base64 encoding fits in ``encoded_budget`` bytes.

    :param encoded_budget: what is left of the encoded limit.
    """
    return max(encoded_budget, 0) // 4 * 3


def load_attachments(
    items: Iterable[Any] | str | os.PathLike | None,
    *,
    max_total_bytes: int | None = DEFAULT_MAX_ATTACHMENT_BYTES,
) -> list[Attachment]:
    """Read every attachment and check the encoded total against ``max_total_bytes``.

    :param items: one item or a list of items in any accepted form.
    :param max_total_bytes: limit of the base64-encoded total; ``None`` disables the check.
    """
    if max_total_bytes is not None and (
        not isinstance(max_total_bytes, int) or isinstance(max_total_bytes, bool) or max_total_bytes < 0
    ):
        raise MailValidationError(
            f"`max_attachment_size` must be a number of bytes >= 0 or None, got {max_total_bytes!r}",
            code="InvalidArgument",
        )
    if items is None:
        return []
    if isinstance(items, (str, os.PathLike)) or not isinstance(items, Iterable) or isinstance(items, Mapping):
        items = [items]
    attachments: list[Attachment] = []
    total = 0
    for index, item in enumerate(items):
        limit = None if max_total_bytes is None else raw_budget(max_total_bytes - total)
        attachment = _load_one(item, index, _Budget(limit, max_total_bytes, total))
        total += encoded_size(len(attachment.data))
        if max_total_bytes is not None and total > max_total_bytes:
            raise _too_large(
                attachment.name, max_total_bytes, f"brings the message to {total:,} bytes once base64-encoded"
            )
        attachments.append(attachment)
    return attachments


def _too_large(name: str, max_total_bytes: int, what: str) -> MailValidationError:
    return MailValidationError(
        f"attachment {name!r} {what}, over the limit of {max_total_bytes:,} bytes of base64-encoded "
        "attachments (max_attachment_size); send a link instead or raise the limit if the service accepts it",
        code="AttachmentTooLarge",
    )


@dataclass(frozen=True)
class _Budget:
    """What one file may still take: ``limit`` raw bytes (``None``: no limit) of ``max_total_bytes``."""

    limit: int | None
    max_total_bytes: int | None
    already: int


def _load_one(item: Any, index: int, budget: _Budget) -> Attachment:
    if isinstance(item, (Attachment, Mapping)) or (
        isinstance(item, Sequence) and not isinstance(item, (str, bytes))
    ):
        return coerce_attachment(item, index=index)
    if isinstance(item, str) and "://" in item:
        from airflow_provider_mail._compat import ObjectStoragePath

        try:
            item = ObjectStoragePath(item)
        except (ValueError, TypeError, ImportError) as err:
            raise MailValidationError(
                f"attachments[{index}] {item!r} is not a usable object-storage URL: {err}",
                code="AttachmentNotFound",
            ) from None
    if hasattr(item, "read_bytes") and not isinstance(item, Path):
        name = getattr(item, "name", "") or str(item)
        data = _read_object(item, str(item), name, budget)
        return Attachment(name=name, data=data)
    if isinstance(item, (str, os.PathLike)):
        path = Path(item).expanduser()
        return Attachment(name=path.name, data=_read_local(path, budget))
    raise MailValidationError(
        f"attachments[{index}] is a {type(item).__name__}; give a path, a URL, an ObjectStoragePath, "
        "or a (filename, bytes, content_type) tuple",
        code="InvalidArgument",
    )


def _not_a_file(shown: str, what: str) -> MailValidationError:
    return MailValidationError(
        f"attachment {shown!r} is {what}, not a regular file; attach regular files only",
        code="AttachmentNotAFile",
    )


def _read_local(path: Path, budget: _Budget) -> bytes:
    """Open without blocking (a FIFO with no writer would), check it is a regular file, bounded read."""
    limit, max_total_bytes, already = budget.limit, budget.max_total_bytes, budget.already
    shown = str(path)
    real = os.path.realpath(path)
    if any(real == root or real.startswith(root + os.sep) for root in _PSEUDO_ROOTS):
        raise _not_a_file(shown, "a kernel or device file")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except (OSError, ValueError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise MailValidationError(
            f"attachment {shown!r} cannot be read: {reason}", code="AttachmentNotFound"
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _not_a_file(shown, _kind(info.st_mode))
        if limit is not None and max_total_bytes is not None and info.st_size > limit:
            raise _too_large(path.name, max_total_bytes, _size_text(info.st_size, already))
        data = _bounded_read(lambda size: os.read(fd, size), limit)
    except OSError as err:
        raise MailValidationError(
            f"attachment {shown!r} cannot be read: {err.strerror or err}", code="AttachmentNotFound"
        ) from None
    finally:
        os.close(fd)
    if info.st_size == 0 and data:  # a pseudo-file (procfs, sysfs) mounted elsewhere: size unknown
        raise _not_a_file(shown, "a pseudo-file without a size")
    _check_growth(path.name, data, limit, max_total_bytes)
    return data


def _read_object(source: Any, shown: str, name: str, budget: _Budget) -> bytes:
    """Object storage: size and type from ``stat()`` where the backend has it, then a bounded read."""
    limit, max_total_bytes, already = budget.limit, budget.max_total_bytes, budget.already
    try:
        info = source.stat() if hasattr(source, "stat") else None
        kind = _info_get(info, "type")
        if kind is not None and kind != "file":
            raise _not_a_file(shown, f"a {kind}")
        size = _info_get(info, "size")
        if limit is not None and max_total_bytes is not None and isinstance(size, int) and size > limit:
            raise _too_large(name, max_total_bytes, _size_text(size, already))
        if hasattr(source, "open"):
            with source.open("rb") as handle:
                data = _bounded_read(handle.read, limit)
        else:  # an object with read_bytes only: nothing smaller to call
            data = source.read_bytes()
    except MailValidationError:
        raise
    except (FileNotFoundError, IsADirectoryError, PermissionError) as err:
        raise MailValidationError(
            f"attachment {shown!r} cannot be read: {err.strerror or err}", code="AttachmentNotFound"
        ) from None
    except (OSError, ValueError) as err:
        raise MailValidationError(
            f"attachment {shown!r} cannot be read: {err}", code="AttachmentNotFound"
        ) from None
    _check_growth(name, data, limit, max_total_bytes)
    return bytes(data)


def _info_get(info: Any, key: str) -> Any:
    if info is None:
        return None
    if isinstance(info, Mapping) or hasattr(info, "get"):
        try:
            return info.get(key)
        except (TypeError, AttributeError):
            return None
    return None


def _bounded_read(read: Any, limit: int | None) -> bytes:
    """Read to the end, or ``limit + 1`` bytes at most (the one extra byte proves the file is too big)."""
    chunks: list[bytes] = []
    remaining = None if limit is None else limit + 1
    while remaining is None or remaining > 0:
        chunk = read(_CHUNK if remaining is None else min(_CHUNK, remaining))
        if not chunk:
            break
        chunks.append(chunk)
        if remaining is not None:
            remaining -= len(chunk)
    return b"".join(chunks)


def _check_growth(name: str, data: bytes, limit: int | None, max_total_bytes: int | None) -> None:
    if limit is not None and max_total_bytes is not None and len(data) > limit:
        raise _too_large(
            name,
            max_total_bytes,
            f"grew while being read to more than the {limit:,} bytes left (or its size was unknown)",
        )


def _size_text(size: int, already: int) -> str:
    total = already + encoded_size(size)
    return f"is {size:,} bytes, which brings the message to {total:,} bytes once base64-encoded"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"
