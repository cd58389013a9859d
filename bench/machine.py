"""The machine and the versions a run used: every results file and every page of
docs/benchmarks.md states them, since numbers mean nothing without them.

.. code:: python

    machine()["cores"]          # 2
    versions()["haproxy"]       # "2.6.12-1+deb12u4"
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import time
from importlib import metadata
from pathlib import Path


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def cpu_sample() -> tuple[int, int]:
    """(busy, total) jiffies of all cores so far, from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return sum(fields) - idle, sum(fields)


def busy_between(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Share of all cores busy between two samples (1.0: every core saturated)."""
    return (after[0] - before[0]) / max(after[1] - before[1], 1)


def _busy_fraction(seconds: float = 1.0) -> float:
    """Share of all cores busy over ``seconds``: what else the machine was doing."""
    before = cpu_sample()
    time.sleep(seconds)
    return busy_between(before, cpu_sample())


def machine() -> dict:
    """Cores, CPU model, kernel, memory, and how busy the machine was just before the run."""
    memory_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal"))
    return {
        "cores": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "kernel": platform.release(),
        "os": _os_name(),
        "memory_gib": round(memory_kb / 1024**2, 1),
        "load_average_before": [round(value, 2) for value in os.getloadavg()],
        "busy_before": round(_busy_fraction(), 3),
    }


def _os_name() -> str:
    try:
        return platform.freedesktop_os_release()["PRETTY_NAME"]
    except OSError:
        return platform.system()


def _first_line(argv: list[str], pattern: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    found = re.search(pattern, done.stdout + done.stderr)
    return found.group(1) if found else "unknown"


def versions(haproxy: str) -> dict:
    """The versions of everything measured or measuring."""
    return {
        "haproxy": _first_line([haproxy, "-v"], r"HAProxy version (\S+)"),
        "nginx": _first_line(["nginx", "-v"], r"nginx/(\S+)"),
        "wrk": _first_line(["wrk", "-v"], r"wrk (\S+)"),
        "openssh": _first_line(["ssh", "-V"], r"(OpenSSH_\S+)"),
        "python": platform.python_version(),
        "python_standins": _first_line(["/usr/bin/python3", "--version"], r"Python (\S+)"),
        "pyinfra": metadata.version("pyinfra"),
        "paramiko": metadata.version("paramiko"),
    }
