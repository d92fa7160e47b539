"""Report parsing: XmailerReportHook streaming versus the floors (a bare split loop, the csv module).

``main`` serves synthetic reports of each size from an xmailer emulator in its own process and runs
every reader in a fresh process, so each peak RSS is that reader's own. Two numbers per reader:
end to end (request + parse, what a task pays) and parse only (an in-memory body, the parser's cost).

``linearity`` (``python -m bench.report_parsing --linearity``, also part of ``main``) feeds one 50 MB
line and one 50 MB JSON value in 64 KiB chunks and reports the parser's work count, the largest work
of a single ``feed`` and the seconds, against a body a quarter that size: the work must grow 4x, the
largest feed not at all.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time

import requests

from bench._common import XMAILER_PASSWORD, XMAILER_USER, peak_rss_mb, run_isolated, xmailer_conn_json

WINDOW = ("2026-11-22T00:00:00-03:00", "2026-11-23T00:00:00-03:00")
FORM = {
    "usuario_smtp": XMAILER_USER,
    "senha_smtp": XMAILER_PASSWORD,
    "dataini": "2026-11-22",
    "horaini": "00:00",
    "datafim": "2026-11-23",
    "horafim": "00:00",
}
SIZES = (10_000, 100_000, 1_000_000)


def read_ours(base_url: str) -> int:
    from airflow_provider_mail.hooks.xmailer import XmailerReportHook

    os.environ["AIRFLOW_CONN_XMAILER_DEFAULT"] = xmailer_conn_json(base_url)
    return sum(1 for _ in XmailerReportHook().get_report(*WINDOW))


def read_split(base_url: str) -> int:
    body = requests.post(base_url + "/http/report.php", data=FORM, timeout=600).text
    return sum(1 for line in body.split("\n") if line and len(line.split(";")) == 6)


def read_csv(base_url: str) -> int:
    body = requests.post(base_url + "/http/report.php", data=FORM, timeout=600).text
    return sum(1 for row in csv.reader(io.StringIO(body), delimiter=";") if len(row) >= 6)


def parse_only(reader: str, base_url: str) -> tuple[int, float]:
    """Download once, then time only the parsing of the in-memory body."""
    body = requests.post(base_url + "/http/report.php", data=FORM, timeout=600).content
    started = time.perf_counter()
    if reader == "ours":
        from zoneinfo import ZoneInfo

        from airflow_provider_mail._xmailer.report_parser import ReportParser

        chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))
        rows = sum(1 for _ in ReportParser(ZoneInfo("America/Sao_Paulo")).parse(chunks))
    elif reader == "split":
        rows = sum(1 for line in body.decode().split("\n") if line and len(line.split(";")) == 6)
    else:
        rows = sum(1 for row in csv.reader(io.StringIO(body.decode()), delimiter=";") if len(row) >= 6)
    return rows, time.perf_counter() - started


READERS = {"ours": read_ours, "split": read_split, "csv": read_csv}
LINEARITY_SIZES = (12_500_000, 50_000_000)
CHUNK = 65_536


def _huge_row_body(shape: str, size: int) -> tuple[bytes, bytes]:
    """The bytes before and after ``size`` filler bytes: one huge line or one huge JSON string value."""
    row = "1grzDQ-000866-0o;s@example.com;r@example.com;08/02/2019;04:01:45;Entregue com sucesso"
    if shape == "line":
        return b"", ("\n" + row + "\n").encode()
    keys = ("msgid", "email_de", "email_para", "data", "hora", "status")
    after = json.dumps(dict(zip(keys, row.split(";"), strict=True)))
    return b'{"0": {"status": "', ('"}, "1": ' + after + "}").encode()


def linearity(sizes: tuple[int, ...] = LINEARITY_SIZES) -> dict:
    """Parse one huge line / JSON value per size in 64 KiB chunks; report work, largest feed, seconds."""
    from zoneinfo import ZoneInfo

    from airflow_provider_mail._xmailer.report_parser import ReportParser

    results: dict = {}
    for shape in ("line", "json_value"):
        for size in sizes:
            prefix, suffix = _huge_row_body(shape, size)
            filler = b"z" * CHUNK
            parser = ReportParser(ZoneInfo("America/Sao_Paulo"))
            largest = rows = 0
            started = time.perf_counter()
            for chunk in (prefix, *(filler for _ in range(size // CHUNK)), suffix):
                before = parser.work
                rows += sum(1 for _ in parser.feed(chunk))
                largest = max(largest, parser.work - before)
            rows += sum(1 for _ in parser.close())
            results.setdefault(shape, {})[str(size)] = {
                "seconds": round(time.perf_counter() - started, 3),
                "work": parser.work,
                "work_per_byte": round(parser.work / (size + len(prefix) + len(suffix)), 3),
                "largest_feed_work": largest,
                "rows": rows,
                "malformed": parser.stats.malformed,
            }
        by_size = results[shape]
        small, large = by_size[str(sizes[0])], by_size[str(sizes[-1])]
        by_size["work_ratio"] = round(large["work"] / small["work"], 3)
        by_size["size_ratio"] = round(sizes[-1] / sizes[0], 3)
    return results


def one(reader: str, base_url: str, mode: str) -> dict:
    """Run in a fresh process: one reader, one mode; report rows, seconds and peak RSS."""
    if reader == "ours":  # import before timing: Airflow's own import is not parsing
        pass
    baseline = peak_rss_mb()
    if mode == "end_to_end":
        started = time.perf_counter()
        rows = READERS[reader](base_url)
        seconds = time.perf_counter() - started
    else:
        rows, seconds = parse_only(reader, base_url)
    return {
        "rows": rows,
        "seconds": round(seconds, 3),
        "rows_per_second": round(rows / seconds),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "start_rss_mb": round(baseline, 1),
    }


def main(sizes: tuple[int, ...] = SIZES, smoke: bool = False) -> dict:
    """Every reader at each size (``smoke``: two tiny sizes, to prove the benchmark runs)."""
    sizes = (100, 1000) if smoke else sizes
    from bench._common import emulator_process

    results: dict = {}
    with emulator_process("xmailer") as base_url:
        for size in sizes:
            requests.post(base_url + "/_emulator/synthetic-report", json={"lines": size}, timeout=30)
            for mode in ("end_to_end", "parse_only"):
                for reader in READERS:
                    if mode == "parse_only" and size > 100_000 and reader != "ours":
                        pass
                    results.setdefault(mode, {}).setdefault(str(size), {})[reader] = run_isolated(
                        "report_parsing", "--one", reader, base_url, mode
                    )
    ratios = {}
    for mode, by_size in results.items():
        for size, readers in by_size.items():
            ours = readers["ours"]["rows_per_second"]
            ratios[f"{mode}/{size}"] = {
                "ours_over_split": round(ours / readers["split"]["rows_per_second"], 3),
                "ours_over_csv": round(ours / readers["csv"]["rows_per_second"], 3),
            }
    end_to_end = results["end_to_end"]
    rss_growth = (
        end_to_end[str(sizes[-1])]["ours"]["peak_rss_mb"] - end_to_end[str(sizes[0])]["ours"]["peak_rss_mb"]
    )
    return {
        "results": results,
        "ratios": ratios,
        "ours_peak_rss_growth_mb": round(rss_growth, 1),
        "linearity": linearity((20_000, 80_000)) if smoke else linearity(),
    }


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--linearity":
        print(json.dumps(linearity(tuple(int(a) for a in sys.argv[2:]) or LINEARITY_SIZES), indent=1))
    elif len(sys.argv) > 1 and sys.argv[1] == "--one":
        print(json.dumps(one(sys.argv[2], sys.argv[3], sys.argv[4])))
    else:
        print(json.dumps(main(tuple(int(a) for a in sys.argv[1:]) or SIZES)))
