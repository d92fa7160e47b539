"""What a finished wait hands on: a bounded summary, and every outcome in XCom pages.

The trigger's event is stored in the task instance's ``next_kwargs`` and the sensor's result in XCom:
both are database cells, so neither may grow with the batch (every outcome of 100k messages is about
15 MB of JSON). A finished wait hands on a :func:`summary` of a few KB whatever the batch (the counts
per status, at most :data:`LISTED` failures and :data:`LISTED` first outcomes, texts cut at
:data:`CLIP` characters) and, when the batch has more than :data:`LISTED` messages, writes every
outcome to XCom pages of the sensor's task instance (:mod:`airflow_provider_mail._delivery.pages`,
under :data:`OUTCOMES_KEY`), page by page: the summary carries their reference. The trigger writes
them through Airflow (:class:`PageTarget`), the sensor through its own ``ti``; any worker reads them
with :func:`iter_outcomes` (public: :func:`airflow_provider_mail.xcom.iter_gate_outcomes`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any, TypeGuard

from airflow_provider_mail._delivery.pages import PageRef, PageWriter, can_push, iter_pages
from airflow_provider_mail._delivery.policy import DeliveryStatus, Verdict
from airflow_provider_mail.exceptions import MailProviderError

#: How many outcomes, and how many failures, the summary lists at most.
LISTED = 20
#: The most characters of a text (detail, recipient, raw status) in a listed outcome; the pages keep
#: the whole text.
CLIP = 500
#: The XCom key prefix of the outcome pages (``mail_gate_outcomes.0``, ...).
OUTCOMES_KEY = "mail_gate_outcomes"
#: The statuses listed under ``failures``: the messages that were not delivered and never will be
#: (``held`` until a person releases it).
UNDELIVERED = frozenset(
    {DeliveryStatus.FAILED.value, DeliveryStatus.BOUNCED.value, DeliveryStatus.CANCELLED.value, "held"}
)
_SUMMARY_KEYS = frozenset({"status", "total", "counts", "failures", "outcomes", "complete"})


@dataclass(frozen=True)
class PageTarget:
    """A task instance the pages are written to from elsewhere (the trigger writes the sensor's).

    It behaves as the ``ti`` a :class:`~airflow_provider_mail._delivery.pages.PageWriter` pushes to.

    :param dag_id: the DAG.
    :param run_id: the DAG run.
    :param task_id: the task.
    :param map_index: its map index (``-1`` when not mapped).
    """

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1

    @classmethod
    def from_ti(cls, ti: Any) -> PageTarget | None:
        """The target of a running task instance; ``None`` when ``ti`` cannot hold pages.

        :param ti: the context's ``ti``.
        """
        if not can_push(ti):
            return None
        map_index = getattr(ti, "map_index", None)
        return cls(
            str(ti.dag_id), str(ti.run_id), str(ti.task_id), -1 if map_index is None else int(map_index)
        )

    def as_json(self) -> dict[str, Any]:
        """Plain JSON (a trigger kwarg)."""
        return asdict(self)

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> PageTarget:
        """Rebuild a target.

        :param value: what :meth:`as_json` returned.
        """
        return cls(str(value["dag_id"]), str(value["run_id"]), str(value["task_id"]), int(value["map_index"]))

    def xcom_push(self, key: str, value: Any) -> None:
        """Write one XCom of the task instance, through Airflow (blocking).

        :param key: the XCom key.
        :param value: the JSON value.
        """
        from airflow_provider_mail._compat import set_xcom

        set_xcom(
            dag_id=self.dag_id,
            run_id=self.run_id,
            task_id=self.task_id,
            map_index=self.map_index,
            key=key,
            value=value,
        )


def _clip(outcome: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: value[:CLIP] + "…" if isinstance(value, str) and len(value) > CLIP else value
        for name, value in outcome.items()
    }


def summary(
    state: str, message: str, outcomes: Iterable[tuple[str, Mapping[str, Any]]], pages: PageRef | None
) -> dict[str, Any]:
    """The bounded result of a finished wait (the sensor's XCom, the trigger's event ``result``).

    :param state: ``"success"`` or ``"failure"``.
    :param message: the verdict's message (it names at most a few failures).
    :param outcomes: ``(key, outcome)`` of every message, in the batch's order.
    :param pages: where every outcome is, when written.
    """
    counts = dict.fromkeys((status.value for status in DeliveryStatus), 0)
    listed: dict[str, Any] = {}
    failures: dict[str, Any] = {}
    total = 0
    for key, outcome in outcomes:
        total += 1
        status = str(outcome.get("status"))
        counts[status] = counts.get(status, 0) + 1
        if len(listed) < LISTED:
            listed[key] = _clip(outcome)
        if status in UNDELIVERED and len(failures) < LISTED:
            failures[key] = _clip(outcome)
    return {
        "status": state,
        "message": message,
        "total": total,
        "counts": counts,
        "failures": failures,
        "outcomes": listed,
        "complete": total <= LISTED,
        "outcome_pages": pages.as_json() if pages is not None else None,
    }


def write_pages(outcomes: Iterable[tuple[str, Mapping[str, Any]]], ti: Any) -> PageRef:
    """Every outcome as ``[key, outcome]`` items in XCom pages of ``ti`` (one page in memory).

    :param outcomes: ``(key, outcome)`` pairs.
    :param ti: a running task instance, or a :class:`PageTarget`.
    """
    writer = PageWriter(ti, OUTCOMES_KEY)
    for key, outcome in outcomes:
        writer.add([key, outcome])
    return writer.reference()


def finish(
    state: str, message: str, outcomes: Mapping[str, Mapping[str, Any]] | Verdict, ti: Any
) -> dict[str, Any]:
    """The summary of a finished wait; above :data:`LISTED` messages every outcome goes to pages first.

    Without a task instance to write to (a bare unit test) the summary lists what it can and has no
    pages.

    :param state: ``"success"`` or ``"failure"``.
    :param message: the verdict's message.
    :param outcomes: the verdict, or ``{key: outcome}`` (an event of an earlier version).
    :param ti: the sensor's task instance (or a :class:`PageTarget`), or ``None``.
    """

    def pairs() -> Iterator[tuple[str, Mapping[str, Any]]]:
        if isinstance(outcomes, Verdict):
            return ((outcome.key, outcome.as_xcom()) for outcome in outcomes.outcomes)
        return iter(outcomes.items())

    count = len(outcomes.outcomes) if isinstance(outcomes, Verdict) else len(outcomes)
    pages = None
    if count > LISTED and (isinstance(ti, PageTarget) or can_push(ti)):
        pages = write_pages(pairs(), ti)
    return summary(state, message, pairs(), pages)


def is_summary(value: Any) -> TypeGuard[dict[str, Any]]:
    """Whether ``value`` is a gate's summary (else: ``{key: outcome}``, as earlier versions returned).

    :param value: a delivery sensor's XCom.
    """
    return isinstance(value, dict) and set(value) >= _SUMMARY_KEYS


def iter_outcomes(result: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(key, outcome)`` of every message of a gate's result, in the batch's order, page by page.

    :param result: a delivery sensor's XCom (or the ``{key: outcome}`` of an earlier version).
    :raises AwaitedMessagesUnavailable: a page is gone (the sensor's task was cleared since).
    :raises MailProviderError: the result lists only some outcomes and no pages hold the rest.
    """
    if not is_summary(result):
        if not isinstance(result, Mapping):
            raise MailProviderError(f"not a delivery gate's result: {result!r}")
        yield from ((str(key), dict(value)) for key, value in result.items())
        return
    if result["complete"]:
        yield from ((str(key), dict(value)) for key, value in result["outcomes"].items())
        return
    reference = result.get("outcome_pages")
    if not reference:
        raise MailProviderError(
            f"this gate's result lists {len(result['outcomes'])} of {result['total']} outcomes and no "
            "pages hold the rest (it ran without a task instance to write them to)"
        )
    for item in iter_pages(PageRef.from_json(reference), what="the gate's outcomes"):
        key, outcome = item
        yield str(key), dict(outcome)
