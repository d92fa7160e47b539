"""Where the awaited messages of one wait come from: a few KB that any worker or triggerer resolves.

A :class:`Source` is the inline items (small values the gate reads as ``messages=``) plus references
to XCom pages (:mod:`airflow_provider_mail._delivery.pages`): the bulk send's own pages, taken from its
XCom as they are (its ``gate_ids``), or pages the sensor wrote itself when what it was given is too
big to travel inline. The trigger's kwargs carry the source, never the ids: :data:`INLINE_MAX_BYTES`
of items at most, whatever the batch.

Resolving reads every page once; the sensor does it once per wait (per process in reschedule mode),
the trigger once per run.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_mail._bulk.results import accepted_sends, is_bulk_xcom
from airflow_provider_mail._delivery.awaited import AwaitedMessages, Sender25Messages, XmailerMessages
from airflow_provider_mail._delivery.pages import PageRef, PageWriter, can_push, iter_pages

#: The most JSON a source may hold to travel as is; above, its items go to pages.
INLINE_MAX_BYTES = 4096
#: The XCom key prefix of the pages a sensor writes for its trigger.
TARGET_PAGES_KEY = "mail_gate_targets"


@dataclass(frozen=True)
class Source:
    """Inline items and page references; together, every awaited message of one wait.

    :param inline: small values the gate reads as ``messages=``.
    :param refs: XCom pages holding more of them.
    """

    inline: list[Any] = field(default_factory=list)
    refs: list[PageRef] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """Plain JSON (the trigger's ``source`` kwarg)."""
        return {"inline": list(self.inline), "refs": [ref.as_json() for ref in self.refs]}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Source:
        """Rebuild a source from :meth:`as_json`.

        :param value: the JSON.
        """
        return cls(
            list(value.get("inline") or []), [PageRef.from_json(ref) for ref in value.get("refs") or []]
        )

    def size(self) -> int:
        """Bytes of its JSON."""
        return len(json.dumps(self.as_json(), separators=(",", ":"), default=str))

    def items(self) -> Iterator[Any]:
        """Every item: the inline ones, then each page's (read through Airflow, blocking)."""
        yield from self.inline
        for ref in self.refs:
            yield from iter_pages(ref)

    def read(self, kind: type[Sender25Messages] | type[XmailerMessages]) -> AwaitedMessages:
        """The awaited messages (reads every page once).

        :param kind: the service's class.
        """
        return kind.read(list(self.items()))

    async def aread(self, kind: type[Sender25Messages] | type[XmailerMessages]) -> AwaitedMessages:
        """:meth:`read` without blocking the event loop (the pages are read in a thread).

        :param kind: the service's class.
        """
        if not self.refs:
            return self.read(kind)
        return await asyncio.to_thread(self.read, kind)


def gate_source(value: Any, kind: type[Sender25Messages] | type[XmailerMessages]) -> Source:
    """The source of what a DAG handed the gate: bulk XComs become their page references, everything
    else its awaited messages as inline items (read once, here).

    :param value: the sensor's rendered ``messages``.
    :param kind: the service's class.
    """
    refs: list[PageRef] = []
    rest: list[Any] = []
    _split(value, refs, rest)
    inline = list(kind.read(rest).items()) if rest or not refs else []
    return Source(inline, refs)


def _split(value: Any, refs: list[PageRef], rest: list[Any]) -> None:
    if is_bulk_xcom(value):
        reference = value.get("gate_ids")
        if reference:
            refs.append(PageRef.from_json(reference))
        else:  # written by an earlier version: its ids, or its results file
            rest.append(accepted_sends(value))
    elif _is_sequence(value):
        for item in value:
            _split(item, refs, rest)
    else:
        rest.append(value)


def _is_sequence(value: Any) -> bool:
    """Lists and Airflow's lazy XCom sequences (a mapped task's XComs); never a tuple (a triple)."""
    return isinstance(value, list) or (
        isinstance(value, Iterable)
        and not isinstance(value, (str, bytes, bytearray, tuple, dict, set, frozenset))
        and not hasattr(value, "keys")
    )


def for_trigger(source: Source, awaited: AwaitedMessages, ti: Any) -> Source:
    """A source small enough for the trigger's kwargs: above :data:`INLINE_MAX_BYTES`, the inline
    items go to pages of the sensor's own task instance (and, were the references themselves too
    many, every item does).

    Without a task instance that can push XComs (a bare unit test) the source stays as it is.

    :param source: what :func:`gate_source` returned.
    :param awaited: the messages it resolves to.
    :param ti: the sensor's running task instance.
    """
    if source.size() <= INLINE_MAX_BYTES or not can_push(ti):
        return source
    writer = PageWriter(ti, TARGET_PAGES_KEY)
    if Source([], source.refs).size() <= INLINE_MAX_BYTES // 2:
        writer.extend(source.inline)
        return Source([], [*source.refs, writer.reference()])
    writer.extend(awaited.items())
    return Source([], [writer.reference()])
