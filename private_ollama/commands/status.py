"""status: each Mac's models and the per-client traffic through its proxy, read over SSH.

The models declared, present, loaded and their sizes (Ollama's API on the Mac's
loopback); requests, errors and latency from HAProxy's access log; Ollama's load
right now from HAProxy's Prometheus endpoint (on the Mac's loopback, never the tailnet).

    python -m private_ollama status [--inventory FILE] [--data KEY=VALUE]... [--lines N] [--json]

The traffic needs proxy_access_log on (and proxy_metrics_port for Ollama's load).
Exit 0 when every host was read, 1 otherwise.
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
from facts.ollama_models import OllamaModels
from facts.traffic import ProxyTraffic
from private_ollama.commands.arguments import add_inventory_arguments
from private_ollama.desired_state.files import access_log_path
from private_ollama.desired_state.layout import MacLayout
from private_ollama.desired_state.models import human_bytes
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


def model_rows(settings: Settings, found: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per model that is declared, present or loaded: which of the three, and its size on disk."""
    declared = {model.key: model.shortest for model in settings.declared_models}
    names = {**declared, **{key: model["name"] for key, model in {**found["loaded"], **found["models"]}.items()}}
    return [{"model": name, "declared": key in declared, "present": key in found["models"],
             "loaded": key in found["loaded"], "size": found["models"].get(key, {}).get("size")}
            for key, name in sorted(names.items())]


def host_status(state: State, host, settings: Settings, lines: int) -> dict[str, Any]:
    """What one Mac holds and what its proxy has been doing (or why that cannot be said)."""
    mac = get_fact(state, host, MacHost)
    layout = MacLayout(settings, user=mac["user"] or "", uid=mac["uid"] or -1, home=mac["home"] or "")
    found = get_fact(state, host, OllamaModels, kwargs={
        "port": settings.ollama_port, "models_dir": layout.models_dir, "manifests": {}})
    status: dict[str, Any] = {"models": model_rows(settings, found) if found["reachable"] else None}
    if not settings.proxy_access_log:
        return {**status, "traffic": "the access log is off: set proxy_access_log = True and apply"}
    traffic = get_fact(state, host, ProxyTraffic, kwargs={
        "access_log": access_log_path(layout), "lines": lines, "metrics_port": settings.proxy_metrics_port})
    requests = traffic["requests"]
    return {
        **status, "from": requests[0]["time"] if requests else None, "to": requests[-1]["time"] if requests else None,
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
    return "\n".join([printable_models(name, status["models"]), printable_traffic(name, status)])


def printable_models(name: str, models: list[dict[str, Any]] | None) -> str:
    if models is None:
        return f"{name}: Ollama does not answer on the Mac's loopback: its models are unknown"
    cells = [("model", "declared", "present", "loaded", "size")] + [
        (row["model"], *("yes" if row[column] else "-" for column in ("declared", "present", "loaded")),
         human_bytes(row["size"]) if row["size"] is not None else "-") for row in models]
    return "\n".join([f"{name}: {sum(row['present'] for row in models)} model(s) present, "
                      f"{sum(row['declared'] for row in models)} declared, {sum(row['loaded'] for row in models)} loaded",
                      *_aligned(cells)])


def printable_traffic(name: str, status: dict[str, Any]) -> str:
    if "traffic" in status:
        return f"{name}: traffic unknown: {status['traffic']}"
    load = status["ollama"]
    now = f"; Ollama now: {load['in_progress']} in progress, {load['queued']} queued" if load else ""
    table = [HEADINGS] + [tuple("-" if row[column] is None else str(row[column]) for column in COLUMNS)
                          for row in status["clients"]]
    requests = sum(row["requests"] for row in status["clients"])
    return "\n".join([f"{name}: {requests} requests from {status['from']} to {status['to']}{now}", *_aligned(table)])


def _aligned(table: list[tuple[str, ...]]) -> list[str]:
    """The rows indented, the first column left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return ["  " + "  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row))
            for row in table]


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
