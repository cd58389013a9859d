"""status: per-client traffic through each Mac's proxy, read over SSH.

Requests, errors and latency from HAProxy's access log, and Ollama's load right
now from HAProxy's Prometheus endpoint (on the Mac's loopback, never the tailnet).

    python -m private_ollama status [--inventory FILE] [--data KEY=VALUE]... [--lines N] [--json]

Needs proxy_access_log on (and proxy_metrics_port for Ollama's load). Exit 0
when every host was read, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from typing import Any

from pyinfra.api import Config, State
from pyinfra.api.connect import connect_all
from pyinfra.api.facts import get_fact
from pyinfra.context import ctx_state

from facts.macos import MacHost
from facts.traffic import ProxyTraffic
from private_ollama.commands.arguments import add_inventory_arguments
from private_ollama.desired_state.files import access_log_path
from private_ollama.desired_state.layout import MacLayout
from private_ollama.desired_state.settings import Settings
from private_ollama.inventory import load_inventory, parse_data

COLUMNS = ("client", "requests", "errors", "limited", "p50_ms", "p95_ms", "ttfb_p50_ms")
HEADINGS = ("client", "requests", "errors", "429s", "p50 ms", "p95 ms", "first byte p50 ms")


def percentile(values: list[int], fraction: float) -> int | None:
    """The nearest-rank percentile of ``values`` (None when there are none)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * fraction) - 1)] if ordered else None


def client_summaries(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per client, busiest first: requests, errors (status 400 and up),
    429s, and latency percentiles of the whole request and of its first byte."""
    by_client: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in requests:
        by_client[entry["client"]].append(entry)
    rows = []
    for client, entries in by_client.items():
        durations = [entry["duration_ms"] for entry in entries if entry["duration_ms"] >= 0]
        first_bytes = [entry["ttfb_ms"] for entry in entries if entry["ttfb_ms"] >= 0]
        rows.append({
            "client": client, "requests": len(entries),
            "errors": sum(entry["status"] >= 400 for entry in entries),
            "limited": sum(entry["status"] == 429 for entry in entries),
            "p50_ms": percentile(durations, 0.5), "p95_ms": percentile(durations, 0.95),
            "ttfb_p50_ms": percentile(first_bytes, 0.5),
        })
    return sorted(rows, key=lambda row: (-row["requests"], row["client"]))


def host_status(state: State, host, settings: Settings, lines: int) -> dict[str, Any]:
    """What one Mac's proxy has been doing, or why it cannot be said."""
    if not settings.proxy_access_log:
        return {"error": "the access log is off: set proxy_access_log = True and apply"}
    mac = get_fact(state, host, MacHost)
    layout = MacLayout(settings, user=mac["user"] or "", uid=mac["uid"] or -1, home=mac["home"] or "")
    traffic = get_fact(state, host, ProxyTraffic, kwargs={
        "access_log": access_log_path(layout), "lines": lines, "metrics_port": settings.proxy_metrics_port})
    requests = traffic["requests"]
    return {
        "from": requests[0]["time"] if requests else None, "to": requests[-1]["time"] if requests else None,
        "clients": client_summaries(requests), "ollama": traffic["ollama"],
    }


def read_hosts(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    inventory, hosts = load_inventory(args.inventory, parse_data(args.data))
    settings = {host.name: host.settings for host in hosts}
    state = State(inventory, Config())
    with ctx_state.use(state):
        connect_all(state)
    return {
        host.name: host_status(state, host, settings[host.name], args.lines) if host not in state.failed_hosts
        else {"error": "unreachable over SSH"}
        for host in inventory
    }


def printable(name: str, status: dict[str, Any]) -> str:
    if "error" in status:
        return f"{name}: {status['error']}"
    load = status["ollama"]
    now = f"; Ollama now: {load['in_progress']} in progress, {load['queued']} queued" if load else ""
    table = [HEADINGS] + [tuple("-" if row[column] is None else str(row[column]) for column in COLUMNS)
                          for row in status["clients"]]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    rows = ["  " + "  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row))
            for row in table]
    requests = sum(row["requests"] for row in status["clients"])
    return "\n".join([f"{name}: {requests} requests from {status['from']} to {status['to']}{now}", *rows])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_inventory_arguments(parser)
    parser.add_argument("--lines", type=int, default=10000, help="how many of the latest requests to read")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")


def run(args: argparse.Namespace) -> int:
    hosts = read_hosts(args)
    if args.json:
        print(json.dumps({"hosts": hosts}))
    else:
        print("\n\n".join(printable(name, status) for name, status in hosts.items()))
    return 1 if any("error" in status for status in hosts.values()) else 0
