"""What a proxy costs the machine: resident memory and CPU of its process tree (psutil), at idle and
while a load runs.

.. code:: python

    idle = at_idle(pid, seconds=2)          # {"rss_mib": 61.2, "cpu_cores": 0.0}
    with under_load(pid) as seen:
        run_wrk(...)
    seen["rss_max_mib"], seen["cpu_cores"]  # peak memory, cores busy on average during the block
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psutil

SAMPLE_S = 0.2


def _tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _sample(pid: int) -> tuple[float, float]:
    """(resident MiB, CPU seconds) of the tree now; a process gone meanwhile counts nothing."""
    rss, cpu = 0, 0.0
    for process in _tree(pid):
        try:
            with process.oneshot():
                rss += process.memory_info().rss
                times = process.cpu_times()
                cpu += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return rss / 2**20, cpu


def at_idle(pid: int, seconds: float) -> dict[str, float]:
    """Memory and cores busy of the tree over ``seconds`` with no request."""
    _, cpu_before = _sample(pid)
    time.sleep(seconds)
    rss, cpu_after = _sample(pid)
    return {"rss_mib": rss, "cpu_cores": (cpu_after - cpu_before) / seconds}


@contextmanager
def under_load(pid: int) -> Iterator[dict[str, float]]:
    """Samples the tree every 0.2 s until the block ends; fills in peak memory and cores busy."""
    seen: dict[str, float] = {}
    done = threading.Event()
    peak = [0.0]

    def sample() -> None:
        while not done.wait(SAMPLE_S):
            peak[0] = max(peak[0], _sample(pid)[0])

    began, (rss, cpu_before) = time.monotonic(), _sample(pid)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield seen
    finally:
        done.set()
        sampler.join()
        rss_after, cpu_after = _sample(pid)
        seen.update(rss_max_mib=max(rss, peak[0], rss_after),
                    cpu_cores=(cpu_after - cpu_before) / (time.monotonic() - began))
