"""Section 1 (and 3): what the proxy costs a small request.

nginx answers canned bodies on loopback; every variant of ``bench.proxies`` runs
at once, and each (request, concurrency) cell runs the variants back to back
(direct, bare, rendered, ...), repeated ``plan.repeats`` times, so that ratios
compare runs made seconds apart. Differences and ratios are paired within a
round, then summarised by their median and min..max over rounds.

.. code:: python

    results = measure(FULL, Path("build/bench/proxy"))
    results["summary"][0]["p50_ms"]["median"]
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from bench.endpoint import Endpoint
from bench.footprint import under_load
from bench.nginx import CHAT_REQUEST, running_nginx
from bench.plan import Plan
from bench.proxies import UNCHECKED, base_variants, knob_variants, missing_knobs, running_variant
from bench.stats import spread
from bench.wrk import run_wrk

REQUESTS = {
    "GET /api/tags": ("GET", "/api/tags", None),
    "POST /v1/chat/completions": ("POST", "/v1/chat/completions", CHAT_REQUEST),
}
MEASURES = ("p50_ms", "p99_ms", "rps", "error_count")
FOOTPRINT = ("rss_max_mib", "cpu_cores")  # of runs made with ``footprint``
# Rendered within 10% of bare HAProxy: p50 at most 1.10x, throughput at least 0.90x.
TARGET_P50_RATIO, TARGET_RPS_RATIO = 1.10, 0.90
TARGET_ADDED_P50_MS = 0.1  # at concurrency 1, over the floor


def measure(plan: Plan, workdir: Path) -> dict:
    ways = [*base_variants([]), UNCHECKED, *knob_variants(workdir, plan.concurrency, plan.backend_connection_cap)]
    with ExitStack() as stack:
        backend = stack.enter_context(running_nginx(workdir / "nginx", plan.backend_connection_cap))
        reach = {way.name: stack.enter_context(running_variant(way, backend, workdir / "haproxy")) for way in ways}
        runs = load_rounds(reach, REQUESTS, {way.name: way.concurrency or plan.concurrency for way in ways}, plan)
    return {
        "backend": {"server": "nginx, 1 worker, canned bodies", "connection_cap": plan.backend_connection_cap,
                    "cap_behaviour": "above the cap nginx closes idle keep-alive connections to admit new ones"},
        "load": {"tool": "wrk, 1 thread, keep-alive, 2 s request timeout", "seconds_per_run": plan.proxy_seconds},
        "variants": [{"name": way.name, "about": way.about, "concurrency": list(way.concurrency or plan.concurrency)}
                     for way in ways],
        "knobs_missing": missing_knobs(),
        "runs": runs,
        "summary": summarise(runs),
    }


def load_rounds(reach: dict[str, Endpoint], requests: dict[str, tuple[str, str, str | None]],
                levels: dict[str, tuple[int, ...]], plan: Plan, footprint: bool = False) -> list[dict]:
    """One wrk run per (round, request, concurrency, way), the ways back to back in each cell, each way at
    its ``levels``: the runs that ``summarise`` pairs within a round. ``footprint``: each run also records
    the peak memory and the cores busy of the way's processes (``bench.footprint``)."""
    runs = []
    for round_ in range(plan.repeats):
        for request, (method, path, body) in requests.items():
            for level in sorted({level for wanted in levels.values() for level in wanted}):
                for name, endpoint in reach.items():
                    if level not in levels[name]:
                        continue
                    with ExitStack() as stack:
                        seen = stack.enter_context(under_load(endpoint.pid)) if footprint and endpoint.pid else {}
                        result = run_wrk(endpoint, method, path, body, level, plan.proxy_seconds)
                    runs.append({"round": round_, "request": request, "concurrency": level, "variant": name,
                                 **result, **seen})
    return runs


def summarise(runs: list[dict], references: tuple[str, ...] = ("direct", "bare", "rendered")) -> list[dict]:
    """Per (request, concurrency, variant): each measure over rounds, and paired against each of the
    ``references`` (here direct, bare and rendered: a knob's own cost)."""
    by_cell = {}
    for run in runs:
        by_cell.setdefault((run["request"], run["concurrency"]), {}).setdefault(run["round"], {})[run["variant"]] = run
    rows = []
    for (request, level), rounds in by_cell.items():
        names = list(dict.fromkeys(name for seen in rounds.values() for name in seen))
        for name in names:
            mine = [seen for seen in rounds.values() if name in seen]
            row = {"request": request, "concurrency": level, "variant": name}
            row.update({measure: spread([seen[name][measure] for seen in mine]) for measure in MEASURES})
            row.update({measure: spread([seen[name][measure] for seen in mine]) for measure in FOOTPRINT
                        if all(measure in seen[name] for seen in mine)})
            for reference in references:
                paired = [seen for seen in mine if reference in seen]
                if name != reference and paired:
                    row[f"vs_{reference}"] = {
                        "added_p50_ms": spread([s[name]["p50_ms"] - s[reference]["p50_ms"] for s in paired]),
                        "p50_ratio": spread([s[name]["p50_ms"] / s[reference]["p50_ms"] for s in paired]),
                        "rps_ratio": spread([s[name]["rps"] / s[reference]["rps"] for s in paired]),
                    }
            rows.append(row)
    return rows


def targets(summary: list[dict]) -> list[dict]:
    """The issue's targets, each with the measured median and whether it was met (never a failure)."""
    found = []
    for row in summary:
        if row["variant"] != "rendered":
            continue
        cell = f"{row['request']}, concurrency {row['concurrency']}"
        versus_bare = row["vs_bare"]
        found.append({"target": f"rendered p50 within 10% of bare ({cell})",
                      "measured": versus_bare["p50_ratio"]["median"],
                      "met": versus_bare["p50_ratio"]["median"] <= TARGET_P50_RATIO})
        found.append({"target": f"rendered throughput within 10% of bare ({cell})",
                      "measured": versus_bare["rps_ratio"]["median"],
                      "met": versus_bare["rps_ratio"]["median"] >= TARGET_RPS_RATIO})
        if row["concurrency"] == 1:
            added = row["vs_direct"]["added_p50_ms"]["median"]
            found.append({"target": f"rendered adds at most {TARGET_ADDED_P50_MS} ms p50 over the floor ({cell})",
                          "measured": added, "met": added <= TARGET_ADDED_P50_MS})
    return found
