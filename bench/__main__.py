"""Run every benchmark section, write ``<out>/<date>.json`` and regenerate the docs page.

    python -m bench            # bench/results/<date>.json, docs/benchmarks.md, docs/benchmarks/*.png
    python -m bench --quick    # the smoke run: build/bench-quick/<date>.json and build/bench-quick/docs/
    python -m bench --out DIR --docs DIR --lab-dir DIR

Needs root (the deploy section starts a lab) and the Debian packages haproxy,
nginx-light and wrk; the first full run installs LiteLLM's proxy for section 7
(``bench.litellm_proxy``). ``--quick`` is the smoke run (about two minutes): it
measures LiteLLM only if a full run installed it, and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import deploy_cost, gateways, pool_hop, proxy_overhead, streaming, where_time_goes
from bench.machine import busy_between, cpu_sample, machine, versions
from bench.plan import FULL, QUICK
from bench.report import write_docs
from tests.proxy.haproxy import HAPROXY

ROOT = Path(__file__).resolve().parent.parent


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def hardening_knobs(proxy: dict) -> dict:
    """Section 3: the knob variants measured with section 1, and the knobs not there yet."""
    missing = proxy["knobs_missing"]
    return {"summary": [row for row in proxy["summary"] if row["variant"].startswith("rendered + ")],
            "missing": missing,
            "note": f"not measured, not in group_data/all.py yet (issue 5): {missing}" if missing else ""}


def run(quick: bool, work: Path, lab_dir: Path) -> dict:
    plan = QUICK if quick else FULL
    began, cpu_before = time.monotonic(), cpu_sample()
    results = {"schema": 1, "date": datetime.now(UTC).isoformat(timespec="seconds"), "quick": quick,
               "plan": plan.as_dict(), "machine": machine(), "versions": versions(HAPROXY), "sections": {}}
    sections = results["sections"]
    say("1/7 proxy overhead (and 3/7 hardening knobs)")
    proxy = proxy_overhead.measure(plan, work / "proxy")
    sections["proxy_overhead"] = {**proxy, "targets": proxy_overhead.targets(proxy["summary"])}
    sections["hardening_knobs"] = hardening_knobs(proxy)
    say("2/7 streaming")
    streams = streaming.measure(plan, work / "streaming")
    sections["streaming"] = {**streams, "targets": streaming.targets(streams["summary"])}
    say(f"4/7 deploy and drift check on a lab of {max(plan.lab_hosts)} host(s) in {lab_dir}")
    deploy = deploy_cost.measure(plan, lab_dir)
    sections["deploy"] = {**deploy, "targets": deploy_cost.targets(deploy["summary"], plan)}
    say("5/7 where the time goes")
    sections["where_time_goes"] = where_time_goes.summarise(deploy)
    say("6/7 a pool's hop")
    hop = pool_hop.measure(plan, work / "pool")
    sections["pool_hop"] = {**hop, "targets": pool_hop.targets(hop)}
    say("7/7 beside LiteLLM's proxy")
    gateway = gateways.measure(plan, work / "gateways", say)
    sections["gateways"] = {**gateway, "targets": gateways.targets(gateway)}
    results["duration_s"] = time.monotonic() - began
    # Other work on the machine shows here: the bench alone keeps the cores partly idle between runs.
    results["machine"]["busy_during"] = round(busy_between(cpu_before, cpu_sample()), 3)
    return results


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the smoke run (about two minutes)")
    parser.add_argument("--out", type=Path, help="where <date>.json goes (bench/results; quick: build/bench-quick)")
    parser.add_argument("--docs", type=Path, help="where benchmarks.md and its plots go (docs; quick: <out>/docs)")
    parser.add_argument("--lab-dir", type=Path, help="the bench lab's state dir (build/bench-lab, build/bench-quick-lab)")
    options = parser.parse_args(argv)
    # A quick run never overwrites the recorded results and the page made from them.
    options.out = options.out or (ROOT / "build" / "bench-quick" if options.quick else ROOT / "bench" / "results")
    options.docs = options.docs or (options.out / "docs" if options.quick else ROOT / "docs")
    options.lab_dir = options.lab_dir or ROOT / "build" / ("bench-quick-lab" if options.quick else "bench-lab")
    if os.geteuid() != 0:
        print("bench: needs root: the deploy section starts a lab (network and mount namespaces)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="private-ollama-bench-") as work:
        results = run(options.quick, Path(work), options.lab_dir.resolve())
    options.out.mkdir(parents=True, exist_ok=True)
    path = options.out / f"{results['date'][:10]}.json"
    path.write_text(json.dumps(results, indent=1) + "\n")
    page = write_docs(results, path, options.docs)
    say(f"{results['duration_s']:.0f} s: results in {path}, page in {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
