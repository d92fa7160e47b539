"""`make bench`: every benchmark with its baselines, in one run; writes bench/results.json, prints a table."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from bench import delivery_gate, import_cost, report_parsing, send_throughput
from bench._common import machine

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
}


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
    lines.append("targets")
    lines.extend(f"  [{'met' if ok else 'MISSED'}] {name}" for name, ok in results["targets"].items())
    return "\n".join(lines)


def main() -> int:
    started = time.monotonic()
    results: dict = {"machine": machine(), "started": datetime.now(timezone.utc).isoformat()}
    for name, run in (
        ("send", lambda: send_throughput.main(2000)),
        ("report", report_parsing.main),
        ("gate", delivery_gate.main),
        ("imports", import_cost.main),
    ):
        print(f"running {name} ...", flush=True)
        results[name] = run()
    results["targets"] = {name: bool(check(results)) for name, check in TARGETS.items()}
    results["seconds"] = round(time.monotonic() - started, 1)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\n(bench took {results['seconds']} s; results in {RESULTS.relative_to(Path.cwd())})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
