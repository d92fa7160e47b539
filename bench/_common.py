"""Helpers shared by the benchmarks: emulators in their own process, timing, peak memory."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-api-key"
XMAILER_USER = "bench@example.com"
XMAILER_PASSWORD = "bench-password"


@contextmanager
def emulator_process(service: str = "sender25", *args: str) -> Iterator[str]:
    """Run an emulator CLI in a separate process (so it never shares the measured process's CPU time)."""
    ready = Path(tempfile.mkdtemp(prefix="bench-")) / "ready"
    command = [
        sys.executable,
        "-m",
        "airflow_provider_mail.testing",
        service,
        "--ready-file",
        str(ready),
        *args,
    ]
    if service == "sender25":
        command += ["--port", "0", "--api-key", API_KEY]
    else:
        command += [
            "--smtp-port",
            "0",
            "--http-port",
            "0",
            "--username",
            XMAILER_USER,
            "--password",
            XMAILER_PASSWORD,
            "--smtp-tls",
            "none",
        ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() or not ready.read_text().strip():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{service} emulator did not start")
            time.sleep(0.05)
        yield ready.read_text().strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def sender25_conn_json(base_url: str, **extra: object) -> str:
    host, _, port = base_url.removeprefix("http://").partition(":")
    return json.dumps(
        {
            "conn_type": "sender25",
            "host": host,
            "port": int(port),
            "schema": "http",
            "password": API_KEY,
            "extra": extra,
        }
    )


def xmailer_conn_json(base_url: str, **extra: object) -> str:
    host, _, port = base_url.removeprefix("http://").partition(":")
    return json.dumps(
        {
            "conn_type": "xmailer",
            "host": host,
            "port": int(port),
            "schema": "http",
            "login": XMAILER_USER,
            "password": XMAILER_PASSWORD,
            "extra": extra,
        }
    )


def peak_rss_mb() -> float:
    """Peak resident memory of this process image so far, in MB.

    ``VmHWM`` rather than ``ru_maxrss``: on Linux the latter survives ``exec``, so a child started by a
    large parent would report the parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(function, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result


def run_isolated(module: str, *args: str, timeout: float = 600) -> dict:
    """Run ``python -m bench.<module>`` in a fresh process (its peak RSS is its own); return its JSON."""
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if done.returncode:
        raise RuntimeError(f"bench.{module} {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def machine() -> dict:
    import airflow

    cpu = "unknown"
    with suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    return {
        "python": platform.python_version(),
        "airflow": airflow.__version__,
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "platform": platform.platform(),
    }
