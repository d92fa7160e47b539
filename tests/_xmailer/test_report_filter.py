"""Client-side filtering of report rows (a server may ignore a filter and answer every row)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_mail._xmailer.report_filter import ReportFilter, row_matches
from airflow_provider_mail._xmailer.report_parser import Outcome, ReportRow

ROW = ReportRow(
    queue_id="1grzDQ-000866-0o",
    sender="Cobranca@Envio.Example.com.br",
    recipient="Ana@X.org",
    delivered_at=datetime(2019, 2, 8, 6, 1, 45, tzinfo=timezone.utc),
    status_text="Entregue com sucesso",
    outcome=Outcome.DELIVERED,
)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, True),
        ({"queue_id": "1grzDQ-000866-0o"}, True),
        ({"queue_id": " 1grzDQ-000866-0o "}, True),
        ({"queue_id": "1GRZDQ-000866-0O"}, False),  # base 62: case matters
        ({"queue_id": "1grzDQ-000866"}, False),  # never a prefix
        ({"queue_id": "1grzDc-00086s-9P"}, False),
        ({"recipient": "ana@x.org"}, True),
        ({"recipient": "ANA@X.ORG "}, True),
        ({"recipient": "joana@x.org"}, False),  # never a substring
        ({"recipient": "ana@x.org.br"}, False),
        ({"recipient": "na@x.org"}, False),
        ({"sender": "cobranca@envio.example.com.br"}, True),
        ({"sender": "envio.example.com.br"}, False),
        (
            {
                "queue_id": "1grzDQ-000866-0o",
                "recipient": "ana@x.org",
                "sender": "cobranca@envio.example.com.br",
            },
            True,
        ),
        ({"queue_id": "1grzDQ-000866-0o", "recipient": "bo@x.org"}, False),
        ({"recipient": "ana@x.org", "sender": "other@envio.example.com.br"}, False),
        ({"queue_id": "", "recipient": "  ", "sender": None}, True),  # blank means "not filtered"
    ],
)
def test_row_matches(filters, expected):
    assert row_matches(ROW, **filters) is expected
    assert ReportFilter(**filters).matches(ROW) is expected


def test_a_filter_streams_only_the_matching_rows_of_an_unfiltered_answer():
    other = ROW._replace(queue_id="1grzDc-00086s-9P", recipient="bo@x.org")
    rows = [ROW, other, ROW._replace(recipient="ana@X.ORG"), other]
    assert list(ReportFilter(recipient="ANA@x.org").apply(iter(rows))) == [rows[0], rows[2]]
    assert list(ReportFilter(queue_id="1grzDc-00086s-9P").apply(rows)) == [other, other]
    assert list(ReportFilter().apply(rows)) == rows and ReportFilter(sender=" ").is_empty
