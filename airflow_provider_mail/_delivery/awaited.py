"""The messages one wait awaits, per service: read from what a DAG hands the gate, written back as
small items (for pages), and the check that polls them.

The sensor and the trigger look a service up in :data:`SERVICES` once and then only talk to the
class they got: no branch on a service string anywhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict
from typing import Any, ClassVar

from airflow_provider_mail._delivery.checks import Sender25DeliveryCheck, XmailerDeliveryCheck
from airflow_provider_mail._delivery.policy import (
    XmailerTarget,
    sender25_message_ids,
    xmailer_targets,
)


class Sender25Messages:
    """Sender25 message ids, each with its recipient when known.

    :param ids: ``{message id: recipient or None}``.
    """

    service: ClassVar[str] = "sender25"

    def __init__(self, ids: dict[str, str | None]) -> None:
        self.ids = ids

    @classmethod
    def read(cls, value: Any) -> Sender25Messages:
        """Every id in ``value`` (see :func:`~airflow_provider_mail._delivery.policy.sender25_message_ids`).

        :param value: ids, send XComs, or a list (or iterator) of them.
        """
        return cls(sender25_message_ids(value))

    @classmethod
    def from_trigger_messages(cls, messages: Any) -> Sender25Messages:
        """The ``messages`` kwarg of a trigger serialized by an earlier version: ``{id: recipient}``.

        :param messages: the kwarg.
        """
        return cls({str(key): value for key, value in dict(messages).items()})

    @property
    def keys(self) -> list[str]:
        """The message ids, in order."""
        return list(self.ids)

    def items(self) -> Iterator[Any]:
        """Each message as a small value :meth:`read` takes back unchanged (for pages)."""
        for message_id, recipient in self.ids.items():
            if recipient is None:
                yield int(message_id)
            else:
                yield {"messages": {recipient: {"id": int(message_id)}}}

    def check(self, conn_id: str, *, lookback: float) -> Sender25DeliveryCheck:
        """The check that polls these messages (one per wait: it keeps its connections).

        :param conn_id: the Sender25 connection.
        :param lookback: not used by Sender25.
        """
        return Sender25DeliveryCheck(conn_id, self.ids)


class XmailerMessages:
    """xmailer deliveries: queue ids with a recipient, or sender/recipient/time triples.

    :param targets: the awaited deliveries.
    """

    service: ClassVar[str] = "xmailer"

    def __init__(self, targets: list[XmailerTarget]) -> None:
        self.targets = targets

    @classmethod
    def read(cls, value: Any) -> XmailerMessages:
        """Every delivery in ``value`` (see :func:`~airflow_provider_mail._delivery.policy.xmailer_targets`).

        :param value: queue ids, send XComs, triples, or a list (or iterator) of them.
        """
        return cls(xmailer_targets(value))

    @classmethod
    def from_trigger_messages(cls, messages: Any) -> XmailerMessages:
        """The ``messages`` kwarg of a trigger serialized by an earlier version: target dicts.

        :param messages: the kwarg.
        """
        return cls([XmailerTarget(**target) for target in messages])

    @property
    def keys(self) -> list[str]:
        """The deliveries' keys, in order."""
        return [target.key for target in self.targets]

    def items(self) -> Iterator[Any]:
        """Each delivery as a small value :meth:`read` takes back with the same key (for pages)."""
        for target in self.targets:
            if target.queue_id and target.recipient:
                yield {"queue_id": target.queue_id, "accepted": [target.recipient]}
            elif target.queue_id:
                yield target.queue_id
            else:
                yield {
                    "sender": target.sender,
                    "recipient": target.recipient,
                    "sent_after": target.sent_after,
                }

    def check(self, conn_id: str, *, lookback: float) -> XmailerDeliveryCheck:
        """The check that polls these deliveries (one report request per poll).

        :param conn_id: the xmailer connection.
        :param lookback: seconds of report to read when no time is known from the targets.
        """
        return XmailerDeliveryCheck(conn_id, self.targets, lookback=lookback)

    def as_dicts(self) -> list[dict[str, Any]]:
        """The targets as plain dicts (for logs and tests)."""
        return [asdict(target) for target in self.targets]


AwaitedMessages = Sender25Messages | XmailerMessages

#: The gate's services by name (a trigger's ``service`` kwarg).
SERVICES: Mapping[str, type[Sender25Messages] | type[XmailerMessages]] = {
    Sender25Messages.service: Sender25Messages,
    XmailerMessages.service: XmailerMessages,
}


def service_class(service: str) -> type[Sender25Messages] | type[XmailerMessages]:
    """The class of a service's awaited messages; an unknown name is a ``ValueError``.

    :param service: ``"sender25"`` or ``"xmailer"``.
    """
    try:
        return SERVICES[service]
    except KeyError:
        raise ValueError(f"service must be one of {sorted(SERVICES)}, got {service!r}") from None


def read_all(kind: type[Sender25Messages] | type[XmailerMessages], items: Iterable[Any]) -> AwaitedMessages:
    """``kind.read`` over an iterable of items (pages, inline items).

    :param kind: the service's class.
    :param items: the items.
    """
    return kind.read(iter(items))
