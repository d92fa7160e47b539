"""Every day, export yesterday's xmailer delivery report to CSV and flag a high failure rate.

The export streams: a report of a million lines never sits in memory. ``params.start``/``params.end``
choose the window of a manual run; without them the operator takes the run's data interval, or, when it
is empty or absent, the 24 hours before the run: Airflow 3 gives cron schedules and manual runs an empty
data interval, and a run triggered without a logical date none at all (nor a ``ds``).
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

try:  # the version-proper import: airflow.sdk on Airflow 3, airflow.decorators on Airflow 2
    from airflow.sdk import dag, task
except ImportError:
    from airflow.decorators import dag, task

from airflow_provider_mail.operators.xmailer import XmailerReportOperator

REPORT_DIR = str(
    Path(tempfile.gettempdir()) / "xmailer-reports"
)  # or an object-storage URL: s3://bucket/reports


@dag(
    dag_id="example_xmailer_daily_report",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"start": "", "end": "", "output_dir": REPORT_DIR, "max_failed_ratio": 0.5},
    tags=["example", "xmailer"],
)
def example_xmailer_daily_report():
    # [START howto_operator_xmailer_report]
    export = XmailerReportOperator(
        task_id="export_report",
        # Empty params: the operator takes the data interval, or the 24 hours before now when it is empty.
        start="{{ params.start }}",
        end="{{ params.end }}",
        # A run triggered without a logical date has no `ds`; its run_after names the file instead.
        output_path="{{ params.output_dir }}/xmailer-"
        "{{ ds if ds is defined else dag_run.run_after | ds }}.csv",
    )
    # [END howto_operator_xmailer_report]

    @task
    def check_failure_rate(summary: dict, params: dict | None = None) -> dict:
        """Fail loudly when too many messages bounced: a sign of a bad list or a blocked domain."""
        failed = summary["outcomes"]["failed"]
        ratio = failed / summary["rows"] if summary["rows"] else 0.0
        print(f"{summary['rows']} rows, {failed} failed ({ratio:.0%}); written to {summary['path']}")
        if ratio > float((params or {}).get("max_failed_ratio", 0.5)):
            raise ValueError(f"{ratio:.0%} of yesterday's messages failed")
        return {"failed_ratio": ratio}

    check_failure_rate(export.output)


example_xmailer_daily_report()
