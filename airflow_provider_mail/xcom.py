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
``Sender25DeliverySensor``,                :class:`DeliveryGateResult` (every
``XmailerDeliverySensor``                  :class:`DeliveryOutcome`: :func:`iter_gate_outcomes`)
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
    "DeliveryCounts",
    "DeliveryGateResult",
    "DeliveryOutcome",
    "ReportExportResult",
    "Sender25MessageIds",
    "Sender25SendResult",
    "XmailerSendResult",
    "iter_bulk_results",
    "iter_gate_outcomes",
    "read_bulk_results",
    "read_gate_outcomes",
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
    ``xcom_ids_limit`` of them (``ids_in_xcom`` is then true). Whatever the batch, every accepted id is
    also in XCom pages of the bulk task that ``gate_ids`` locates (``None`` where no page could be
    written, e.g. outside a task): the delivery sensors read those, on any worker.
    """

    messages: dict[str, Sender25MessageIds]
    sends: list[dict[str, Any]]
    gate_ids: dict[str, Any] | None


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


class DeliveryCounts(TypedDict):
    """How many of a gate's messages ended in each status (every status, ``0`` included)."""

    delivered: int
    pending: int
    deferred: int
    held: int
    failed: int
    bounced: int
    cancelled: int


class DeliveryGateResult(TypedDict):
    """A delivery sensor's XCom: a few KB whatever the batch.

    ``status`` is ``success`` (a failed gate raises ``DeliveryFailedError`` instead), ``message`` the
    verdict (it names at most 10 failures), ``total`` the number of messages and ``counts`` the number
    per status. ``failures`` holds the first 20 messages not delivered (``failed``, ``bounced``,
    ``cancelled`` or ``held``: under ``wait_for="any"`` a gate succeeds with some) and ``outcomes`` the
    first 20 outcomes, both keyed by message key, their texts cut at 500 characters. ``complete`` is
    true when ``outcomes`` holds every message (20 or fewer); otherwise every outcome, whole, is in XCom
    pages of the sensor's task instance (``mail_gate_outcomes.<n>``) that ``outcome_pages`` locates.
    Read them all, in any task on any worker, with :func:`iter_gate_outcomes` or
    :func:`read_gate_outcomes`.
    """

    status: Literal["success", "failure"]
    message: str
    total: int
    counts: DeliveryCounts
    failures: dict[str, DeliveryOutcome]
    outcomes: dict[str, DeliveryOutcome]
    complete: bool
    outcome_pages: dict[str, Any] | None


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


def iter_gate_outcomes(result: Any) -> Iterator[tuple[str, DeliveryOutcome]]:
    """Stream ``(message key, outcome)`` for every message of a delivery sensor's XCom, page by page.

    Call it in a running task (any worker): the pages are XComs of the sensor's task instance, read
    through Airflow, one page (at most 48 KB) in memory at a time. Also takes the ``{key: outcome}``
    XCom of earlier versions.

    :param result: the sensor's XCom (:class:`DeliveryGateResult`).
    :raises AwaitedMessagesUnavailable: a page is gone (the sensor's task was cleared since).
    """
    from airflow_provider_mail._delivery.result import iter_outcomes

    return iter_outcomes(result)  # type: ignore[return-value]


def read_gate_outcomes(result: Any) -> dict[str, DeliveryOutcome]:
    """Every outcome of a delivery sensor's XCom, ``{message key: outcome}``; stream a big batch with
    :func:`iter_gate_outcomes`.

    :param result: the sensor's XCom (:class:`DeliveryGateResult`).
    """
    return dict(iter_gate_outcomes(result))
