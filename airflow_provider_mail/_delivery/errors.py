"""The gate's one rule for errors, used by ``poke()``, the deferrable first poke and the trigger.

- A *transient* error (a :class:`MailProviderError` that Airflow may retry: connection failures,
  timeouts, 5xx, unreadable answers) never ends the wait by itself: the next poll may succeed. After
  :data:`MAX_CONSECUTIVE_TRANSIENT_ERRORS` in a row the wait ends with the last one, instead of
  polling a dead endpoint until the sensor's timeout (seven days by default).
- Any other error (configuration, auth, ``MessageNotFound``, validation: the fatal branch of
  :mod:`airflow_provider_mail.exceptions`) ends the wait at once with its own type; ``soft_fail``
  turns it into a skip.

The trigger runs in another process, so an error crosses to the task as plain JSON
(:func:`error_event`) and is rebuilt there with its type and attributes (:func:`error_from_event`).
"""

from __future__ import annotations

from typing import Any

from airflow_provider_mail import exceptions
from airflow_provider_mail.exceptions import FatalMailProviderError, MailProviderError

#: Consecutive transient failures after which a wait ends (a success in between resets the count).
MAX_CONSECUTIVE_TRANSIENT_ERRORS = 10

_PLAIN = (str, int, float, bool, type(None))


def is_transient(err: BaseException) -> bool:
    """Whether the next poll may succeed where this one failed.

    :param err: the error one poll raised.
    """
    return isinstance(err, MailProviderError) and not isinstance(err, FatalMailProviderError)


class TransientStreak:
    """Counts consecutive transient failures of one wait.

    :param limit: how many in a row end the wait.
    """

    def __init__(self, limit: int = MAX_CONSECUTIVE_TRANSIENT_ERRORS) -> None:
        self.limit = limit
        self.count = 0

    def tolerate(self, err: BaseException) -> bool:
        """Record a failed poll; ``True`` while the wait may go on after it.

        :param err: the error the poll raised.
        """
        if not is_transient(err):
            return False
        self.count += 1
        return self.count < self.limit

    def reset(self) -> None:
        """A poll succeeded."""
        self.count = 0


def error_event(err: MailProviderError, polls: int) -> dict[str, Any]:
    """The trigger's event for an error that ends the wait: type, text and plain attributes.

    :param err: the error.
    :param polls: polls made so far.
    """
    return {
        "status": "error",
        "error_type": type(err).__name__,
        "message": str(err),
        "attributes": {k: v for k, v in vars(err).items() if isinstance(v, _PLAIN) and not k.startswith("_")},
        "polls": polls,
    }


def error_from_event(event: dict[str, Any]) -> MailProviderError:
    """Rebuild the error a trigger reported, with its own type (so ``AirflowFailException`` stays fatal).

    An unknown type name becomes a plain :class:`MailProviderError` naming it.

    :param event: the trigger's event payload.
    """
    name, text = event.get("error_type"), str(event.get("message"))
    error_class = getattr(exceptions, str(name), None)
    if not (isinstance(error_class, type) and issubclass(error_class, MailProviderError)):
        return MailProviderError(f"the delivery check failed: {name}: {text}")
    error = error_class.__new__(error_class)
    Exception.__init__(error, text)
    for key, value in (event.get("attributes") or {}).items():
        if isinstance(value, _PLAIN):
            setattr(error, key, value)
    return error
