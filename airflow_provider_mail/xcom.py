"""The shapes of what this provider's tasks push to XCom, and a reader for the bulk results file.

Every shape is plain JSON (a ``TypedDict`` here, for type checkers and the docs): the delivery sensors
take a send's XCom as is, and a downstream ``@task`` can read it without importing this package.

========================================  ==============================================
Task                                       XCom ``return_value``
========================================  ==============================================
``Sender25SendEmailOperator``,             :class:`Sender25SendResult`
``Sender25SendRawOperator``,
``Sender25Hook.send_message``
``XmailerSendEmailOperator``,              :class:`XmailerSendResult`
``XmailerSmtpHook.send``
``Sender25BulkSendOperator``,              :class:`BulkSendResult` (one :class:`BulkResultRow`
``XmailerBulkSendOperator``                per row in its results file)
``Sender25DeliverySensor``,                ``{message key: DeliveryOutcome}``
``XmailerDeliverySensor``                  (:class:`DeliveryOutcome`)
``XmailerReportOperator``                  :class:`ReportExportResult`
========================================  ==============================================
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal, TypedDict

__all__ = [
    "BulkCounts",
    "BulkResultRow",
    "BulkSendResult",
    "DeliveryOutcome",
    "ReportExportResult",
    "Sender25MessageIds",
    "Sender25SendResult",
    "XmailerSendResult",
    "iter_bulk_results",
    "read_bulk_results",
]


class Sender25MessageIds(TypedDict):
    """The ids Sender25 gave one recipient's copy of a message."""

    id: int
    token: str


class Sender25SendResult(TypedDict):
    """A Sender25 send: the Message-ID, and per recipient the ids the delivery sensor polls."""

    message_id: str
    messages: dict[str, Sender25MessageIds]


class XmailerSendResult(TypedDict):
    """An xmailer send: the relay's queue id (the one the report shows) and the recipients' fates.

    ``refused`` maps a refused recipient to the relay's reply; ``sent_at`` is an ISO time.
    """

    queue_id: str | None
    accepted: list[str]
    refused: dict[str, str]
    sent_at: str | None
    message_id: str | None
    mail_from: str


class BulkCounts(TypedDict):
    """How many rows of a bulk send ended in each state."""

    total: int
    accepted: int
    sent_earlier: int
    failed: int
    unknown: int


class _BulkSendKeys(TypedDict):
    counts: BulkCounts
    results_path: str
    failed_rows: list[dict[str, Any]]
    ids_in_xcom: bool


class BulkSendResult(_BulkSendKeys, total=False):
    """A bulk send's XCom: counts, where the per-row results are, and the ids while they are few.

    ``messages`` (Sender25) or ``sends`` (xmailer) hold the accepted messages' ids when there are at most
    ``xcom_ids_limit`` of them (``ids_in_xcom`` is then true); above it they are only in the results file,
    which the delivery sensors read.
    """

    messages: dict[str, Sender25MessageIds]
    sends: list[dict[str, Any]]


class _BulkResultKeys(TypedDict):
    row: int
    status: Literal["accepted", "sent_earlier", "failed", "unknown"]


class BulkResultRow(_BulkResultKeys, total=False):
    """One line of a bulk send's results file.

    ``status`` is ``accepted`` (with the ids), ``sent_earlier`` (by an earlier try), ``failed`` (with the
    error's class, code and text: nothing was sent) or ``unknown`` (it may have been sent).
    """

    to: list[str]
    error: str
    code: str | None
    text: str


class DeliveryOutcome(TypedDict):
    """Where one message stands, the same words for both services.

    ``status`` is ``delivered``, ``pending``, ``deferred`` (a soft failure the service keeps retrying),
    ``held``, ``failed``, ``bounced`` or ``cancelled``; ``raw_status`` and ``detail`` are the service's
    own word and explanation; ``at`` is an ISO time.
    """

    status: Literal["delivered", "pending", "deferred", "held", "failed", "bounced", "cancelled"]
    raw_status: str | None
    at: str | None
    detail: str | None
    recipient: str | None


class ReportExportResult(TypedDict):
    """What ``XmailerReportOperator`` wrote: the file, its row count and the count per outcome."""

    path: str
    rows: int
    outcomes: dict[str, int]


def iter_bulk_results(path: str) -> Iterator[dict[str, Any]]:
    """Stream the rows of a bulk send's results file (the XCom's ``results_path``), one dict a line.

    :param path: a local path or an object-storage URL.
    """
    from airflow_provider_mail._bulk.results import iter_results

    return iter_results(path)


def read_bulk_results(path: str) -> list[dict[str, Any]]:
    """Every row of a bulk send's results file; stream a big one with :func:`iter_bulk_results`.

    :param path: a local path or an object-storage URL.
    """
    return list(iter_bulk_results(path))
