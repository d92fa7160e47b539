"""Attachments: the objects the ``attachments`` argument of every sender, hook and notifier accepts.

Besides :class:`Attachment`, the argument takes local paths, object-storage URLs or
``ObjectStoragePath`` objects (read when the task runs) and ``(filename, bytes, content_type)`` tuples.
"""

from __future__ import annotations

from airflow_provider_mail._shared.attachment import Attachment

__all__ = ["Attachment"]
