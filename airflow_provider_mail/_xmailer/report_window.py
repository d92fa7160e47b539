"""Report windows: aware bounds converted to the service's wall time, minute-padded, validated."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from airflow_provider_mail.exceptions import MailValidationError

#: The service filters by minute; a minute of margin each side, then rows are filtered exactly.
QUERY_PADDING = timedelta(minutes=1)


@dataclass(frozen=True)
class ReportWindow:
    """The exact window asked for, and the padded one sent to the service.

    :param start: inclusive start, aware.
    :param end: inclusive end, aware.
    :param timezone: the service's time zone.
    """

    start: datetime
    end: datetime
    timezone: tzinfo

    @classmethod
    def from_bounds(cls, start: datetime | str, end: datetime | str, timezone: tzinfo) -> ReportWindow:
        """Validate the bounds (aware, end after start).

        :param start: an aware datetime (stdlib or pendulum) or an ISO 8601 string with an offset.
        :param end: same, after ``start``.
        :param timezone: the service's time zone.
        """
        start_at, end_at = as_aware(start, "start"), as_aware(end, "end")
        if end_at <= start_at:
            raise MailValidationError(
                f"the report window ends ({end_at.isoformat()}) before it starts ({start_at.isoformat()})",
                code="InvalidWindow",
            )
        return cls(start_at, end_at, timezone)

    def contains(self, moment: datetime) -> bool:
        """Whether ``moment`` lies in the exact window.

        :param moment: an aware datetime.
        """
        return self.start <= moment <= self.end

    def query_params(self) -> dict[str, str]:
        """``dataini``/``horaini``/``datafim``/``horafim`` in the service's wall time, padded by a minute."""
        local_start = (self.start - QUERY_PADDING).astimezone(self.timezone)
        local_end = (self.end + QUERY_PADDING).astimezone(self.timezone)
        return {
            "dataini": local_start.strftime("%Y-%m-%d"),
            "horaini": local_start.strftime("%H:%M"),
            "datafim": local_end.strftime("%Y-%m-%d"),
            "horafim": local_end.strftime("%H:%M"),
        }


def as_aware(value: datetime | str, argument: str) -> datetime:
    """Return ``value`` as an aware datetime; naive values are refused (their zone would be a guess).

    :param value: a datetime or an ISO 8601 string.
    :param argument: the argument's name, for errors.
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise MailValidationError(
                f"`{argument}` {value!r} is not an ISO 8601 date-time", code="InvalidWindow"
            ) from None
    if not isinstance(value, datetime):
        raise MailValidationError(f"`{argument}` must be a datetime or ISO string", code="InvalidWindow")
    if value.tzinfo is None or value.utcoffset() is None:
        raise MailValidationError(
            f"`{argument}` {value.isoformat()} has no time zone; give an aware datetime or an offset",
            code="InvalidWindow",
        )
    return value
