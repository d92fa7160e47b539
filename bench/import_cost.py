"""Import cost of each public module over Airflow itself (``python -X importtime``)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

MODULES = (
    "airflow_provider_mail.hooks.sender25",
    "airflow_provider_mail.hooks.xmailer",
    "airflow_provider_mail.operators.sender25",
    "airflow_provider_mail.operators.xmailer",
    "airflow_provider_mail.sensors.delivery",
    "airflow_provider_mail.triggers.delivery",
    "airflow_provider_mail.notifications.sender25",
    "airflow_provider_mail.utils.emailer",
    "airflow_provider_mail.get_provider_info",
)
REPEATS = 3


def airflow_base() -> str:
    try:
        import airflow.sdk  # noqa: F401
    except ImportError:
        return "airflow"
    return "airflow.sdk"


def added_ms(module: str, base: str) -> float:
    """Cumulative import time of ``module`` when ``base`` is already imported: what it adds.

    :param module: the module to import.
    :param base: what is imported first (Airflow itself).
    """
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {base}; import {module}"],
        capture_output=True,
        text=True,
        check=True,
    )
    for line in done.stderr.splitlines():
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[2] == module:
            return int(parts[1]) / 1000
    return 0.0  # not in the trace: Airflow itself already imported it (e.g. during provider discovery)


def base_ms(base: str) -> float:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {base}"],
        capture_output=True,
        text=True,
        check=True,
    )
    top = base.split(".")[0]
    return max(
        int(line.split("|")[1]) / 1000
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and line.split("|")[2].strip() in (top, base)
    )


def main(smoke: bool = False) -> dict:
    """The median of ``REPEATS`` runs per module (``smoke``: one run)."""
    repeats = 1 if smoke else REPEATS
    # Measure the package as installed from a wheel (byte-compiled). This environment sets
    # PYTHONDONTWRITEBYTECODE, so an editable checkout would otherwise be compiled on every import.
    subprocess.run([sys.executable, "-m", "compileall", "-q", "airflow_provider_mail"], check=True)
    base = airflow_base()
    results = {
        module: round(statistics.median(added_ms(module, base) for _ in range(repeats)), 1)
        for module in MODULES
    }
    return {
        "base": base,
        "base_ms": round(statistics.median(base_ms(base) for _ in range(3)), 1),
        "added_ms": results,
        "worst_ms": max(results.values()),
    }


if __name__ == "__main__":
    print(json.dumps(main()))
