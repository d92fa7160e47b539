"""Decide, client-side, whether a report row matches a query's queue id, recipient and sender.

The hook sends ``emaildestino``/``remetente`` (and, on servers that have it, ``idMensagem``) to
narrow the report, but the documented ``report.php`` has no ``idMensagem`` and a server that ignores
a filter answers every row of the window. So every row is checked again here: a queue id exactly
(Exim ids are case-sensitive base 62), addresses case-insensitively on the whole address (never a
substring: ``ana@x.org`` does not match ``joana@x.org``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from airflow_provider_mail._xmailer.report_parser import ReportRow


def normalize_address(address: str) -> str:
    """The form addresses are compared in: surrounding blanks dropped, case folded.

    :param address: a bare address, as the report writes it.
    """
    return address.strip().lower()


@dataclass(frozen=True)
class ReportFilter:
    """The filters of one report query, normalised once, applied to each row.

    An empty or blank value means "no filter", as it does for the request's parameters.

    :param queue_id: only rows of this queue id (exact match).
    :param recipient: only rows to this address (whole address, any case).
    :param sender: only rows from this address (whole address, any case).
    """

    queue_id: str | None = None
    recipient: str | None = None
    sender: str | None = None

    def __post_init__(self) -> None:
        # Normalised once here, not per row: a report can have a million rows.
        object.__setattr__(self, "queue_id", (self.queue_id or "").strip() or None)
        object.__setattr__(self, "recipient", normalize_address(self.recipient or "") or None)
        object.__setattr__(self, "sender", normalize_address(self.sender or "") or None)

    @property
    def is_empty(self) -> bool:
        """True when it lets every row through."""
        return self.queue_id is None and self.recipient is None and self.sender is None

    def matches(self, row: ReportRow) -> bool:
        """Whether ``row`` passes every filter that is set.

        :param row: a report row.
        """
        if self.queue_id is not None and row.queue_id != self.queue_id:
            return False
        if self.recipient is not None and normalize_address(row.recipient) != self.recipient:
            return False
        return self.sender is None or normalize_address(row.sender) == self.sender

    def apply(self, rows: Iterable[ReportRow]) -> Iterator[ReportRow]:
        """The rows that match, in order, streamed.

        :param rows: report rows.
        """
        if self.is_empty:
            yield from rows
            return
        for row in rows:
            if self.matches(row):
                yield row


def row_matches(
    row: ReportRow,
    *,
    queue_id: str | None = None,
    recipient: str | None = None,
    sender: str | None = None,
) -> bool:
    """Whether a report row matches the given filters (``None`` or blank: not filtered on).

    For many rows build one :class:`ReportFilter` and call its :meth:`~ReportFilter.matches`.

    :param row: a report row.
    :param queue_id: the queue id, compared exactly.
    :param recipient: the recipient, compared on the whole address, case-insensitively.
    :param sender: the sender, compared on the whole address, case-insensitively.
    """
    return ReportFilter(queue_id, recipient, sender).matches(row)
