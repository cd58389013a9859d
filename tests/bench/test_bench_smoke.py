"""The bench's smoke run (``python -m bench --quick``) still runs and records every section.

It checks the results' shape and sanity, never a performance target: a
benchmark reports, it does not fail a run. Its output goes to a temporary dir;
the recorded results and docs/benchmarks.md are left as they are.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ("proxy_overhead", "streaming", "hardening_knobs", "deploy", "where_time_goes", "pool_hop", "gateways")
PLOTS = ("proxy-overhead.png", "streaming.png", "deploy.png", "where-time-goes.png", "pool-hop.png", "gateways.png")

pytestmark = pytest.mark.lab  # the deploy section starts a lab


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """(results, docs dir) of one quick run."""
    if os.geteuid() != 0:
        pytest.skip("the bench starts a lab, which needs root (network and mount namespaces)")
    missing = [tool for tool in ("wrk", "nginx", "haproxy", "sshd")
               if not shutil.which(tool, path=f"{os.environ.get('PATH', '')}:/usr/sbin")]
    if missing:
        pytest.skip(f"the bench needs {', '.join(missing)} (make deps installs them)")
    out = tmp_path_factory.mktemp("bench")
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out), "--docs", str(out / "docs"),
         "--lab-dir", str(out / "lab")],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
        env={name: value for name, value in os.environ.items() if name != "PRIVATE_OLLAMA_LAB_SLOT"},
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    [results] = out.glob("*.json")
    return json.loads(results.read_text()), out / "docs"


@pytest.mark.parametrize("section", SECTIONS)
def test_results_hold_every_section(smoke, section):
    assert section in smoke[0]["sections"]


@pytest.mark.parametrize("field", ("cores", "cpu_model", "kernel"))
def test_results_state_the_machine(smoke, field):
    assert smoke[0]["machine"][field]


@pytest.mark.parametrize("tool", ("haproxy", "nginx", "python", "pyinfra"))
def test_results_state_the_versions(smoke, tool):
    assert smoke[0]["versions"][tool][0].isdigit(), smoke[0]["versions"]


def test_every_proxy_cell_was_measured(smoke):
    results = smoke[0]
    section = results["sections"]["proxy_overhead"]
    wanted = {(request, level, way["name"]) for request in ("GET /api/tags", "POST /v1/chat/completions")
              for way in section["variants"] for level in way["concurrency"]}
    assert {(run["request"], run["concurrency"], run["variant"]) for run in section["runs"]} == wanted


def test_proxy_latencies_are_sane(smoke):
    rows = smoke[0]["sections"]["proxy_overhead"]["summary"]
    insane = [row for row in rows if not (0 < row["p50_ms"]["median"] <= row["p99_ms"]["median"] < 2000
                                          and row["rps"]["median"] > 0)]
    assert not insane


def test_below_the_backend_cap_no_request_fails(smoke):
    section = smoke[0]["sections"]["proxy_overhead"]
    cap = section["backend"]["connection_cap"]
    failed = [run for run in section["runs"] if run["concurrency"] <= cap and run["error_count"]]
    assert not failed


def test_every_stream_arrives_whole(smoke):
    section = smoke[0]["sections"]["streaming"]
    short = [run for run in section["runs"] if run["chunks"] < run["streams"] * section["chunks_per_stream"]]
    assert section["runs"] and not short


def test_the_hop_was_measured_at_every_level_without_a_failure(smoke):
    results = smoke[0]
    section = results["sections"]["pool_hop"]
    ways = {way["name"] for way in section["ways"]}
    levels = set(results["plan"]["hop_concurrency"])
    assert {(run["concurrency"], run["variant"]) for run in section["request_runs"]} == {
        (level, way) for level in levels for way in ways}
    assert not [run for run in section["request_runs"] if run["error_count"] or not run["requests"]]
    short = [run for run in section["stream_runs"] if run["chunks"] < run["streams"] * section["chunks_per_stream"]]
    assert {run["streams"] for run in section["stream_runs"]} == levels and not short


def test_the_gateways_measure_litellm_or_say_why_not(smoke):
    section = smoke[0]["sections"]["gateways"]
    measured = {run["variant"] for run in section["request_runs"]}
    litellm = {"LiteLLM", "LiteLLM, master key and rate limit"}
    assert measured >= {"direct", "rendered", "rendered, API keys and rate limit"}
    assert litellm <= measured if not section["skipped"] else not litellm & measured
    assert not section["skipped"] or section["skipped"] in (smoke[1] / "benchmarks.md").read_text()
    compared = {t["target"] for t in section["targets"] if t["target"].startswith("LiteLLM")}
    assert bool(compared) == (not section["skipped"])


def test_the_gateways_checks_were_on(smoke):
    section = smoke[0]["sections"]["gateways"]
    assert section["without_key"]["rendered, API keys and rate limit"] == 401
    assert section["without_key"].get("LiteLLM, master key and rate limit", 401) == 401


def test_the_gateways_footprint_is_of_running_proxies(smoke):
    section = smoke[0]["sections"]["gateways"]
    assert section["idle"] and all(0 < way["rss_mib"] < 4096 for way in section["idle"].values())
    loaded = [run for run in section["request_runs"] if run["variant"] != "direct"]
    assert loaded and all(run["rss_max_mib"] > 0 and run["cpu_cores"] >= 0 for run in loaded)


def test_stream_delays_are_sane(smoke):
    runs = smoke[0]["sections"]["streaming"]["runs"]
    assert all(0 < run["delay_p50_ms"] <= run["delay_p99_ms"] <= run["delay_max_ms"] < 5000 for run in runs)


@pytest.mark.parametrize("section", ("proxy_overhead", "streaming", "deploy", "pool_hop", "gateways"))
def test_each_target_is_reported_with_a_number(smoke, section):
    targets = smoke[0]["sections"][section]["targets"]
    assert targets and all(isinstance(t["measured"], (int, float)) and isinstance(t["met"], bool) for t in targets)


def test_the_drift_check_found_the_bench_lab_converged(smoke):
    drift = smoke[0]["sections"]["deploy"]["summary"]["drift"]
    assert drift and all(count["all_converged"] for count in drift.values())


def test_the_no_change_reapply_changed_nothing(smoke):
    assert smoke[0]["sections"]["deploy"]["summary"]["reapply_changed"] == []


def test_the_profile_counts_every_round_trip_of_the_reapply(smoke):
    results = smoke[0]
    reads = sum(fact["reads"] for fact in results["sections"]["where_time_goes"]["profile"]["facts"].values())
    assert reads == results["sections"]["deploy"]["rounds"][0]["reapply"]["phases"]["round_trips"] > 0


@pytest.mark.parametrize("plot", PLOTS)
def test_each_plot_is_a_png(smoke, plot):
    assert (smoke[1] / "benchmarks" / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("heading", ("## Machine", "## 1.", "## 2.", "## 3.", "## 4.", "## 5.", "## 6.", "## 7."))
def test_the_page_has_every_section(smoke, heading):
    assert heading in (smoke[1] / "benchmarks.md").read_text()


def test_the_page_links_only_plots_that_exist(smoke):
    page = (smoke[1] / "benchmarks.md").read_text()
    linked = [line.split("](", 1)[1].rstrip(")") for line in page.splitlines() if line.startswith("![")]
    assert linked and all((smoke[1] / path).is_file() for path in linked)


def test_the_recorded_results_are_left_alone(smoke):
    stamp = smoke[0]["date"]  # every results file and page made from it carries its run's time
    recorded = [*(ROOT / "bench" / "results").glob("*.json"), ROOT / "docs" / "benchmarks.md"]
    assert not [path for path in recorded if path.exists() and stamp in path.read_text()]


def test_the_page_says_what_the_checks_cost_of_the_rendered_config(smoke):
    section = smoke[0]["sections"]["proxy_overhead"]
    assert "rendered without its checks" in {way["name"] for way in section["variants"]}
    said = [line for line in (smoke[1] / "benchmarks.md").read_text().splitlines()
            if line.startswith("- ") and "its checks (rendered over rendered without them)" in line]
    cells = [(row["request"], row["concurrency"]) for row in section["summary"] if row["variant"] == "rendered"]
    assert cells and len(said) == len(cells)  # one line per cell
    request, level = cells[0]
    [unchecked] = [row for row in section["summary"] if (row["request"], row["concurrency"], row["variant"])
                   == (request, level, "rendered without its checks")]
    checks_ms = -unchecked["vs_rendered"]["added_p50_ms"]["median"]  # paired: rendered minus unchecked
    assert said[0].startswith(f"- {request}, concurrency {level}: ")
    assert f"without them) {checks_ms:.3f}" in said[0]
