"""One bounded wrk run (Debian's wrk, one thread), read back as numbers.

.. code:: python

    result = run_wrk(Endpoint(port, host), "POST", "/v1/chat/completions", body, connections=16, seconds=2)
    result["p50_ms"], result["rps"], result["errors"]
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from bench.endpoint import Endpoint

SCRIPT = Path(__file__).with_name("wrk_request.lua")


def run_wrk(endpoint: Endpoint, method: str, path: str, body: str | None, connections: int, seconds: int) -> dict:
    """``connections`` keep-alive connections for ``seconds`` (wrk stops itself; a 2 s request timeout)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as body_file:
        args = [method]
        if body is not None:
            body_file.write(body)
            body_file.flush()
            args.append(body_file.name)
        argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "2s",
                *(option for name, value in endpoint.request_headers.items() for option in ("-H", f"{name}: {value}")),
                "-s", str(SCRIPT), f"{endpoint.url}{path}", "--", *args]
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=seconds + 30)
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    raw = json.loads(done.stdout.strip().splitlines()[-1])
    errors = raw["errors"]
    return {
        "requests": raw["requests"],
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1000, "p90_ms": raw["p90_us"] / 1000, "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000, "mean_ms": raw["mean_us"] / 1000,
        "errors": errors, "error_count": sum(errors.values()),
    }
