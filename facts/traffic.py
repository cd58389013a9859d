"""What the proxy has been doing: the last lines of HAProxy's access log, and
Ollama's queue and load from HAProxy's Prometheus endpoint on loopback."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any, TypedDict, cast

from pyinfra import logger
from pyinfra.api import FactBase
from typing_extensions import override

_SEPARATOR = "--- metrics ---"
# The backend gauges that say how loaded Ollama is right now.
_GAUGES = {"current_sessions": "in_progress", "current_queue": "queued"}
_GAUGE_LINE = re.compile(r'^haproxy_backend_(?P<gauge>[a-z_]+)\{proxy="ollama"\} (?P<value>[0-9.e+]+)$')


class ProxyTrafficInfo(TypedDict):
    requests: list[dict[str, Any]]  # access log entries, oldest first
    ollama: dict[str, int]  # {"in_progress": n, "queued": n}, empty without metrics


class ProxyTraffic(FactBase[ProxyTrafficInfo]):
    """
    The last ``lines`` requests of the access log, and Ollama's load now.
    A missing log or metrics endpoint reads as empty, never as an error.

    .. code:: python

        {"requests": [{"client": "alice", "status": 200, "duration_ms": 812, ...}],
         "ollama": {"in_progress": 1, "queued": 0}}
    """

    @override
    def command(self, access_log: str, lines: int, metrics_port: int) -> str:
        metrics = (f"curl -s -m 3 http://127.0.0.1:{metrics_port}/metrics 2>/dev/null"
                   " | grep '^haproxy_backend_current_' || true") if metrics_port else "true"
        return f"tail -n {int(lines)} {shlex.quote(access_log)} 2>/dev/null; echo {shlex.quote(_SEPARATOR)}; {metrics}"

    @staticmethod
    def default() -> ProxyTrafficInfo:
        return ProxyTrafficInfo(requests=[], ollama={})

    @override
    def process(self, output: list[str]) -> ProxyTrafficInfo:
        split = output.index(_SEPARATOR) if _SEPARATOR in output else len(output)
        requests = []
        for line in output[:split]:
            try:
                requests.append(json.loads(line))
            except ValueError:
                logger.warning(f"ProxyTraffic: skipped an access log line that is not JSON: {line[:80]!r}")
        ollama = {}
        for line in output[split + 1:]:
            match = _GAUGE_LINE.match(line)
            if match and match["gauge"] in _GAUGES:
                ollama[_GAUGES[match["gauge"]]] = int(float(match["value"]))
        return cast(ProxyTrafficInfo, {"requests": requests, "ollama": ollama})
