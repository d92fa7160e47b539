"""Big lists of awaited messages kept in Airflow itself: XCom values of bounded size ("pages").

The delivery gate must confirm a batch of any size from any worker, and hand its wait to a trigger
whose kwargs stay a few KB. Neither the ids nor a path on one worker's disk can travel, so the
messages live in XComs of a task instance (the bulk send's, or the sensor's own), each at most
:data:`PAGE_MAX_BYTES` of JSON, under ``<key>.<n>``; what travels is a :class:`PageRef` (a few hundred
bytes) that any worker or triggerer resolves through Airflow. Pages are written as they fill, so the
writer's memory is one page whatever the batch.

A page is a JSON list of *items*, each of which the gate accepts on its own (a message id, a send
XCom restricted to its ids, an xmailer send): a page is read with the same rules as ``messages=``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from airflow_provider_mail.exceptions import AwaitedMessagesUnavailable, MailProviderError

#: The most JSON one page may hold: under the 64 KiB of a MySQL ``TEXT``/``BLOB`` column, so a page
#: fits whatever column and backend Airflow stores it in.
PAGE_MAX_BYTES = 48_000


@dataclass(frozen=True)
class PageRef:
    """Where the pages of one list are: a task instance's XComs ``<key>.0`` … ``<key>.<pages-1>``.

    :param dag_id: the DAG.
    :param run_id: the DAG run.
    :param task_id: the task instance that pushed the pages.
    :param map_index: its map index (``-1`` when not mapped).
    :param key: the key prefix.
    :param pages: how many pages.
    :param items: how many items in all (a check on what was read).
    """

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    key: str
    pages: int
    items: int

    def as_json(self) -> dict[str, Any]:
        """Plain JSON (for an XCom or a trigger's kwargs)."""
        return asdict(self)

    @classmethod
    def from_json(cls, value: Any) -> PageRef:
        """Rebuild a reference; a malformed one is a named error.

        :param value: what :meth:`as_json` returned.
        """
        try:
            return cls(
                dag_id=str(value["dag_id"]),
                run_id=str(value["run_id"]),
                task_id=str(value["task_id"]),
                map_index=int(value["map_index"]),
                key=str(value["key"]),
                pages=int(value["pages"]),
                items=int(value["items"]),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise MailProviderError(f"not a reference to the gate's pages: {value!r}") from err

    def page_key(self, number: int) -> str:
        """The XCom key of page ``number``.

        :param number: 0-based.
        """
        return page_key(self.key, number)


def page_key(key: str, number: int) -> str:
    """``<key>.<number>``.

    :param key: the key prefix.
    :param number: the page number, 0-based.
    """
    return f"{key}.{number}"


class PageWriter:
    """Pushes items as XCom pages of the task instance ``ti`` as they fill (one page in memory).

    :param ti: the running task instance (its ``xcom_push``, ``dag_id``, ``run_id``, ``task_id``,
        ``map_index``).
    :param key: the key prefix of the pages.
    :param max_bytes: the most JSON per page.
    """

    def __init__(self, ti: Any, key: str, *, max_bytes: int = PAGE_MAX_BYTES) -> None:
        self.ti = ti
        self.key = key
        self.max_bytes = max_bytes
        self.pages = 0
        self.items = 0
        self._page: list[Any] = []
        self._bytes = 2  # the brackets

    def add(self, item: Any) -> None:
        """Add one item; a full page is pushed first.

        :param item: a JSON-compatible item.
        """
        # measured as XCom stores it (json.dumps' defaults: ASCII escapes, ", " between items)
        size = len(json.dumps(item, default=str)) + 2
        if self._page and self._bytes + size > self.max_bytes:
            self.flush()
        self._page.append(item)
        self._bytes += size
        self.items += 1

    def extend(self, items: Iterable[Any]) -> None:
        """Add every item of ``items``.

        :param items: JSON-compatible items.
        """
        for item in items:
            self.add(item)

    def flush(self) -> None:
        """Push the page being filled (nothing when it is empty)."""
        if not self._page:
            return
        self.ti.xcom_push(key=page_key(self.key, self.pages), value=self._page)
        self.pages += 1
        self._page = []
        self._bytes = 2

    def reference(self) -> PageRef:
        """Push the last page and return where every page is."""
        self.flush()
        ti = self.ti
        map_index = getattr(ti, "map_index", None)
        return PageRef(
            dag_id=str(ti.dag_id),
            run_id=str(ti.run_id),
            task_id=str(ti.task_id),
            map_index=-1 if map_index is None else int(map_index),
            key=self.key,
            pages=self.pages,
            items=self.items,
        )


def can_push(ti: Any) -> bool:
    """Whether ``ti`` is a task instance that can hold pages (a running task's, with ids).

    :param ti: the context's ``ti``, or anything else.
    """
    return callable(getattr(ti, "xcom_push", None)) and all(
        getattr(ti, name, None) is not None for name in ("dag_id", "run_id", "task_id")
    )


def read_page(ref: PageRef, number: int, *, what: str = "the awaited messages") -> list[Any]:
    """One page, read through Airflow (any worker, any triggerer).

    :param ref: where the pages are.
    :param number: the page number.
    :param what: what the pages hold (for the error).
    :raises AwaitedMessagesUnavailable: the page is gone (the task was cleared or its XComs deleted).
    """
    from airflow_provider_mail._compat import get_xcom

    value = get_xcom(
        dag_id=ref.dag_id,
        run_id=ref.run_id,
        task_id=ref.task_id,
        map_index=ref.map_index,
        key=ref.page_key(number),
    )
    if not isinstance(value, list):
        where = (
            f"XCom {ref.page_key(number)!r} of {ref.task_id} (map index {ref.map_index}), run {ref.run_id}"
        )
        raise AwaitedMessagesUnavailable(
            f"page {number + 1} of {ref.pages} of {what} is missing: {where}. Was that "
            "task cleared, or its XComs deleted, after it ran? Run it again, then this gate.",
            where=where,
        )
    return value


def iter_pages(ref: PageRef, *, what: str = "the awaited messages") -> Iterator[Any]:
    """Every item of every page, page by page.

    :param ref: where the pages are.
    :param what: what the pages hold (for the error).
    """
    for number in range(ref.pages):
        yield from read_page(ref, number, what=what)
