"""Processes the proxy tests start: free loopback ports, bounded waits, clean stops.

.. code:: python

    port = free_port()
    process = spawn(["/usr/bin/python3", "-m", "http.server", str(port)], log=tmp / "server.log")
    wait_until(lambda: answers(port), "the server answers")
    stop(process)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    """A TCP port nothing listens on right now, on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(ready: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll ``ready`` every 50 ms; fail the test with ``what`` when ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f} s waiting until {what}")
        time.sleep(0.05)


def spawn(argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start ``argv`` in its own process group, stdout and stderr to ``log``."""
    with open(log, "ab") as output:
        return subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM the process group we started (HAProxy's master and workers alike), then SIGKILL."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
