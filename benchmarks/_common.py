"""Helpers shared by the benchmark scripts: markdown tables, machine description, idle check.

The scripts run as ``python benchmarks/<name>.py``, so this folder is on ``sys.path`` and they
import this module as ``_common``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import shlex
import sys
import time
from pathlib import Path


def rel(a: float, b: float) -> float:
    """|a − b| / |b|."""
    return abs(a - b) / max(abs(b), 1e-300)


def md_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def fmt_s(t: float | None) -> str:
    return "—" if t is None else (f"{t:.3f}" if t < 10 else f"{t:.1f}")


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def load_average() -> str:
    return " / ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"


def machine_info(threads: int, versions: str, threading: str) -> list[list[str]]:
    """Rows (label, value) describing the run: date, command, CPU, cores, load, versions.

    ``versions``: the libraries compared; ``threading``: how the thread count was set.
    """
    aff = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        ["date", dt.datetime.now().astimezone().isoformat(timespec="seconds")],
        ["command", "`" + shlex.join([Path(sys.executable).name, *sys.argv]) + "`"],
        ["CPU", cpu_model()],
        ["cores", f"{os.cpu_count()} logical, {aff} usable; {threads} threads used ({threading})"],
        ["load average at start (1/5/15 min)", load_average()],
        ["versions", f"python {platform.python_version()}, {versions}"],
    ]


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat, or None off Linux."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_share(seconds: float = 3.0) -> float | None:
    """Share of the CPUs busy over ``seconds`` while this process sleeps (others' work)."""
    a = _cpu_times()
    time.sleep(seconds)
    b = _cpu_times()
    if a is None or b is None or b[1] == a[1]:
        return None
    return (b[0] - a[0]) / (b[1] - a[1])


def busy_warning(share: float | None) -> str:
    """A warning when other processes keep the CPUs busy (timings then say little).

    Measured from /proc/stat while this process sleeps: the load average is no guide on
    virtual machines whose baseline load is ~1 with nothing running.
    """
    if share is None or share <= 0.1:
        return ""
    return (f"**⚠ The machine was not idle ({100 * share:.0f} % of the CPUs busy with other "
            "work at start): other processes compete for the cores, and multi-threaded "
            "BLAS/OpenMP code can slow down by far more than the share of the cores it loses. "
            "Treat these timings as a smoke test, not as results.**")
