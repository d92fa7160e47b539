"""`make bench`: every benchmark with its baselines, in one run; writes bench/results.json, prints a table.

``python -m bench.run --smoke`` (CI) runs every benchmark at tiny sizes, only to prove that each still
runs: no targets, no results file. Either way the exit status is 1 when any benchmark crashed.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from bench._common import machine

#: Every benchmark: its key in the results and its module under ``bench/``, whose
#: ``main(smoke=False)`` returns what it measured.
BENCHMARKS = (
    ("send", "send_throughput"),
    ("report", "report_parsing"),
    ("gate", "delivery_gate"),
    ("imports", "import_cost"),
    ("bulk", "bulk_send"),
    ("gate_adaptive", "delivery_gate_adaptive"),
    ("gate_scale", "gate_scale"),
    ("smtp", "smtp_session"),
    ("ledger", "ledger_cost"),
)
#: Run on their own (``make bench-celery``: the Celery stack, minutes), smoked with the rest.
SEPARATE = (("celery", "celery_scale"),)

RESULTS = Path(__file__).with_name("results.json")
TARGETS = {
    "send >= 0.85x raw keep-alive": lambda r: r["send"]["ratios"]["ours_over_raw_keepalive"] >= 0.85,
    "send >= 3x new connection per call": lambda r: (
        r["send"]["ratios"]["ours_over_requests_new_connection"] >= 3
    ),
    "report parse >= 0.5x bare split (end to end, 1M)": lambda r: (
        r["report"]["ratios"]["end_to_end/1000000"]["ours_over_split"] >= 0.5
    ),
    "report peak RSS 1M within 30 MB of 10k": lambda r: r["report"]["ours_peak_rss_growth_mb"] <= 30,
    "10,000 deferred waits < 300 MB RSS": lambda r: r["gate"]["deferred"]["10000"]["peak_rss_mb"] < 300,
    "xmailer: 1 report request per poll round": lambda r: (
        r["gate"]["xmailer"]["report_requests_per_round"] == 1
    ),
    "each module adds < 50 ms import time": lambda r: r["imports"]["worst_ms"] < 50,
    "bulk >= 0.8x physical limit (50 ms round trip)": lambda r: (
        r["bulk"]["ratios"]["bulk_over_physical_limit"] >= 0.8
    ),
    "bulk >= 0.8x physical limit (100/s rate limit)": lambda r: (
        r["bulk"]["ratios"]["rate_limited_bulk_over_physical_limit"] >= 0.8
    ),
    "bulk >= 10x sequential send_message loop": lambda r: r["bulk"]["ratios"]["bulk_over_sequential"] >= 10,
    "bulk >= 50x mapped tasks (real scheduler, 2,000 extrapolated)": lambda r: (
        r["bulk"]["ratios"]["bulk_task_over_mapped"] >= 50
    ),
    "bulk peak RSS 100k rows within 30 MB of 1k": lambda r: r["bulk"]["ratios"]["rss_growth_mb"] <= 30,
}
#: What each target compares, for the "met/missed" lines: (label, path into results).
MEASURED = {
    "send >= 0.85x raw keep-alive": ("ratio", ("send", "ratios", "ours_over_raw_keepalive")),
    "send >= 3x new connection per call": ("ratio", ("send", "ratios", "ours_over_requests_new_connection")),
    "report parse >= 0.5x bare split (end to end, 1M)": (
        "ratio",
        ("report", "ratios", "end_to_end/1000000", "ours_over_split"),
    ),
    "report peak RSS 1M within 30 MB of 10k": ("MB", ("report", "ours_peak_rss_growth_mb")),
    "10,000 deferred waits < 300 MB RSS": ("MB", ("gate", "deferred", "10000", "peak_rss_mb")),
    "xmailer: 1 report request per poll round": (
        "requests",
        ("gate", "xmailer", "report_requests_per_round"),
    ),
    "each module adds < 50 ms import time": ("ms", ("imports", "worst_ms")),
    "bulk >= 0.8x physical limit (50 ms round trip)": (
        "ratio",
        ("bulk", "ratios", "bulk_over_physical_limit"),
    ),
    "bulk >= 0.8x physical limit (100/s rate limit)": (
        "ratio",
        ("bulk", "ratios", "rate_limited_bulk_over_physical_limit"),
    ),
    "bulk >= 10x sequential send_message loop": ("ratio", ("bulk", "ratios", "bulk_over_sequential")),
    "bulk >= 50x mapped tasks (real scheduler, 2,000 extrapolated)": (
        "ratio",
        ("bulk", "ratios", "bulk_task_over_mapped"),
    ),
    "bulk peak RSS 100k rows within 30 MB of 1k": ("MB growth", ("bulk", "ratios", "rss_growth_mb")),
}

#: The numbers behind bench/delivery_gate_adaptive.py's targets (it reports each target as a bool).
GATE_MEASURED = {
    ">= 5x fewer status requests": ("x fewer requests", ("request_ratio",)),
    "no change seen later than one poke interval": ("s worst lateness", ("worst_lateness_s",)),
    "bounces seen within one interval of the grace period's end": (
        "s worst bounce lateness vs the rule",
        ("adaptive", "worst_bounce_lateness_vs_rule_s"),
    ),
}


def check_targets(results: dict) -> dict[str, dict]:
    """Each target: met or not, with what was measured (a missing measurement is a miss, said so)."""
    out: dict[str, dict] = {}
    for name, check in TARGETS.items():
        try:
            met = bool(check(results))
        except (KeyError, TypeError):
            met = False
        unit, path = MEASURED.get(name, ("", ()))
        value: object = results
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        out[name] = {"met": met, "measured": value, "unit": unit}
    for key, _ in BENCHMARKS:  # a benchmark may name its own targets, each a bool or a dict
        measured_by = results.get(key)
        if not isinstance(measured_by, dict):
            continue
        for name, flag in (measured_by.get("targets") or {}).items():
            label = f"{'gate' if key == 'gate_adaptive' else key}: {name}"
            if isinstance(flag, dict):
                out[label] = {
                    "met": bool(flag.get("met")),
                    "measured": flag.get("measured"),
                    "unit": flag.get("unit", ""),
                }
                continue
            unit, path = GATE_MEASURED.get(name, ("", ())) if key == "gate_adaptive" else ("", ())
            value: object = measured_by if path else None
            for step in path:
                value = value.get(step) if isinstance(value, dict) else None
            out[label] = {
                "met": bool(flag),
                "measured": "see the table" if value is None else value,
                "unit": unit if value is not None else "",
            }
    return out


def table(results: dict) -> str:
    lines = [
        f"machine: {results['machine']['cpus']} CPUs, {results['machine']['cpu_model']}, "
        f"Python {results['machine']['python']}, Airflow {results['machine']['airflow']}",
        "",
    ]
    send = results["send"]
    lines.append(f"{'send (messages/s)':<34}{'per second':>12}{'ours / it':>12}")
    for name, row in send["clients"].items():
        ratio = send["ratios"].get(f"ours_over_{name}")
        lines.append(f"  {name:<32}{row['per_second']:>12,.0f}{'' if ratio is None else f'{ratio:>12.2f}'}")
    lines.append("")
    lines.append(f"{'report (rows/s, peak RSS MB)':<34}{'ours':>18}{'split':>18}{'csv':>18}")
    for mode, by_size in results["report"]["results"].items():
        for size, readers in by_size.items():
            cells = "".join(
                f"{readers[r]['rows_per_second']:>10,} {readers[r]['peak_rss_mb']:>6.0f}MB"
                for r in ("ours", "split", "csv")
            )
            lines.append(f"  {mode + ' ' + size:<32}{cells}")
    lines.append("")
    lines.append("delivery gate (deferred triggers in one loop)")
    for size, row in results["gate"]["deferred"].items():
        lines.append(
            f"  {size:>6} waits: peak RSS {row['peak_rss_mb']} MB, {row['requests_per_round']} requests "
            f"and {row['cpu_seconds_per_round']} CPU s per poll round ({row['seconds_per_round']} s)"
        )
    for size, row in results["gate"]["poke_mode"].items():
        lines.append(
            f"  {size:>6} sensors, 15-min wait: poke mode {row['poke_mode_slot_seconds']:,} worker-slot-s, "
            f"reschedule {row['reschedule_mode_slot_seconds']:,}, deferrable "
            f"{row['deferrable_worker_slot_seconds']:,} (one poke {row['seconds_per_poke'] * 1000:.1f} ms)"
        )
    xm = results["gate"]["xmailer"]
    lines.append(
        f"  xmailer: {xm['report_requests_per_round']:.0f} report request per poll round for "
        f"{xm['deliveries']} deliveries"
    )
    lines.append("")
    imports = results["imports"]
    lines.append(f"import cost over {imports['base']} ({imports['base_ms']} ms)")
    lines.extend(f"  {module:<46}{ms:>8.1f} ms" for module, ms in imports["added_ms"].items())
    lines.append("")
    lines.extend(bulk_table(results.get("bulk") or {}))
    lines.append("")
    for key, title in LISTED_AS_THEY_COME.items():
        lines.extend(listed_table(title, results.get(key)))
        lines.append("")
    lines.append("targets (measured)")
    for name, row in results["targets"].items():
        measured = row["measured"]
        if measured is None:
            shown = "not measured"
        else:
            shown = f"{measured:,.2f}" if isinstance(measured, float) else str(measured)
            shown = f"{shown} {row['unit']}".rstrip()
        lines.append(f"  [{'met' if row['met'] else 'MISSED'}] {name}: {shown}")
    return "\n".join(lines)


def bulk_table(bulk: dict) -> list[str]:
    """The 2,000-message batch at a 50 ms round trip, and the bulk operator's memory."""
    if "error" in bulk:
        return ["bulk send: FAILED", *(f"  {line}" for line in bulk["error"].splitlines()[-8:])]
    if not bulk:
        return ["bulk send: not run"]
    n = bulk["messages"]
    lines = [
        f"bulk send: {n:,} messages, {bulk['latency_seconds'] * 1000:.0f} ms injected per answer "
        f"(measured round trip {bulk['round_trip_seconds'] * 1000:.1f} ms), "
        f"concurrency {bulk['concurrency']}",
        f"  {'':<50}{'msgs/s':>9}{'2,000 msgs':>12}",
        f"  {'physical limit: concurrency / round trip':<50}{bulk['physical_limit_per_second']:>9,.1f}"
        f"{n / bulk['physical_limit_per_second']:>11.1f}s",
    ]
    if "bulk" in bulk:
        row = bulk["bulk"]
        lines.append(f"  {'bulk operator execute()':<50}{row['per_second']:>9,.1f}{row['seconds']:>11.1f}s")
    task = (bulk.get("real_scheduler") or {}).get("bulk_task")
    if task:
        lines.append(
            f"  {'bulk operator as one task (real scheduler)':<50}"
            f"{task['per_second']:>9,.1f}{task['seconds']:>11.1f}s"
        )
    seq = bulk["sequential"]
    lines.append(
        f"  {'send_message loop (' + str(seq['messages_measured']) + ' measured, extrapolated)':<50}"
        f"{seq['per_second']:>9,.1f}{seq['extrapolated_seconds']:>11.1f}s"
    )
    mapped = (bulk.get("real_scheduler") or {}).get("mapped")
    if mapped:
        label = f"mapped tasks ({mapped['task_instances']} measured, extrapolated)"
        lines.append(
            f"  {label:<50}{mapped['extrapolated_per_second']:>9,.2f}{mapped['extrapolated_seconds']:>11.1f}s"
        )
        lines.append(
            f"    {mapped['seconds_per_task_instance']:.3f} s of wall time per mapped task instance "
            f"(scheduler + LocalExecutor, parallelism {mapped['parallelism']}; each task ran "
            f"{mapped['mean_task_duration']:.2f} s)"
        )
    for key, how in (("bulk_rate_limited", "429 + Retry-After"), ("bulk_rate_limited_told", "rate_limit=")):
        limited = bulk.get(key)
        if limited:
            label = f"bulk, service limit {limited['rate_limit']:g}/s ({how})"
            lines.append(
                f"  {label:<50}{limited['per_second']:>9,.1f}{'':>12}  ({limited['messages']:,} msgs, "
                f"limit {limited['physical_limit_per_second']:g}/s)"
            )
    if "bulk" in bulk and bulk["bulk"].get("render_template_fields_seconds") is not None:
        lines.append(
            f"    before execute(), Airflow rendered the literal 2,000-row list as templates in "
            f"{bulk['bulk']['render_template_fields_seconds']:.2f} s (not counted above)"
        )
    if not bulk.get("bulk_available"):
        lines.append("  (the bulk operator is not in this checkout: only the baselines ran)")
    for key, how in (("rss", "no network (instant client)"), ("rss_network", "sent to the emulator")):
        for size, row in (bulk.get(key) or {}).items():
            lines.append(
                f"  memory: {int(size):>7,} rows from JSONL, {how}: peak RSS {row['peak_rss_mb']:.1f} MB "
                f"({row['rows_per_second']:,.0f} rows/s)"
            )
    return lines


#: Benchmarks whose numbers are listed as they come (their own targets are listed below the table).
LISTED_AS_THEY_COME = {
    "gate_adaptive": "adaptive delivery gate",
    "gate_scale": "delivery gate at scale",
    "smtp": "SMTP session: XmailerSmtpHook vs Airflow's SmtpHook",
    "ledger": "send ledger cost",
}


def listed_table(title: str, gate: object) -> list[str]:
    """Whatever numbers a benchmark returns, one line per number (its own targets are listed below)."""
    if gate is None:
        return [f"{title}: not run"]
    if not isinstance(gate, dict):
        return [f"{title}: {gate!r}"]
    if "error" in gate and len(gate) == 1:
        return [f"{title}: FAILED", *(f"  {line}" for line in gate["error"].splitlines()[-8:])]
    lines = [title]

    def walk(value: object, prefix: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{prefix}{key}.")
        elif isinstance(value, (int, float, str, bool)) or value is None:
            lines.append(f"  {prefix.rstrip('.'):<58}{value}")

    walk({k: v for k, v in gate.items() if k != "targets"}, "")
    return lines


def run_all(smoke: bool) -> tuple[dict, list[str]]:
    """Run every benchmark; a crash is recorded under its key and the others still run.

    :param smoke: tiny sizes, only to prove that each benchmark runs.
    :returns: the results and the keys of the benchmarks that crashed.
    """
    results: dict = {"machine": machine(), "started": datetime.now(timezone.utc).isoformat()}
    crashed: list[str] = []
    for name, module in BENCHMARKS + (SEPARATE if smoke else ()):
        print(f"running {name} ({module}) ...", flush=True)
        started = time.monotonic()
        try:
            results[name] = importlib.import_module(f"bench.{module}").main(smoke=smoke)
        except Exception:
            crashed.append(name)
            results[name] = {"error": traceback.format_exc()}
            print(results[name]["error"], file=sys.stderr, flush=True)
        print(f"  {name}: {'CRASHED' if name in crashed else 'ok'} in {time.monotonic() - started:.1f} s")
    return results, crashed


def main(argv: list[str] | None = None) -> int:
    smoke = "--smoke" in (sys.argv[1:] if argv is None else argv)
    started = time.monotonic()
    results, crashed = run_all(smoke)
    results["seconds"] = round(time.monotonic() - started, 1)
    if smoke:
        print(
            f"smoke run of {len(BENCHMARKS)} benchmarks in {results['seconds']} s; "
            f"crashed: {', '.join(crashed) or 'none'}"
        )
        return 1 if crashed else 0
    results["targets"] = check_targets(results)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    try:
        print(table(results))
    except (KeyError, TypeError):  # a crashed benchmark has no numbers to show
        print(traceback.format_exc(), file=sys.stderr)
    print(f"\n(bench took {results['seconds']} s; results in {RESULTS.relative_to(Path.cwd())})")
    if crashed:
        print(f"crashed: {', '.join(crashed)}", file=sys.stderr)
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
