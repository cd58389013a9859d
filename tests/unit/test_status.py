"""The status command's reading of the proxy: the ProxyTraffic fact run for real through
pyinfra's @local connector (a fake curl plays the metrics endpoint), and the
per-client summary it prints."""

from __future__ import annotations

import json

import pytest

from facts.traffic import ProxyTraffic
from private_ollama.commands.status import (
    client_summaries,
    model_rows,
    percentile,
    printable_models,
    printable_traffic,
)
from private_ollama.desired_state.settings import Settings
from tests.unit.test_facts import load_fact, replay_tool

METRICS = """haproxy_backend_current_queue{proxy="ollama"} 3
haproxy_backend_current_sessions{proxy="ollama"} 2
haproxy_backend_current_queue{proxy="client_limits"} 0
"""


def entry(client: str, status: int = 200, duration_ms: int = 100, ttfb_ms: int = 10) -> dict:
    return {"time": "2026-01-01T00:00:00Z", "client": client, "status": status, "duration_ms": duration_ms,
            "ttfb_ms": ttfb_ms}


@pytest.fixture
def bin_dir(tmp_path):
    (tmp_path / "bin").mkdir()
    return tmp_path / "bin"


def test_fact_reads_the_log_and_ollamas_load(tmp_path, bin_dir):
    log = tmp_path / "access.log"
    log.write_text("".join(json.dumps(entry(name)) + "\n" for name in ("alice", "bob", "alice")))
    replay_tool(bin_dir, "curl", METRICS, 0)
    value, failed = load_fact(ProxyTraffic, bin_dir, access_log=str(log), lines=2, metrics_port=9101)
    assert ([request["client"] for request in value["requests"]], value["ollama"], failed) == (
        ["bob", "alice"], {"queued": 3, "in_progress": 2}, False)


def test_fact_without_log_or_metrics_reads_empty(tmp_path, bin_dir):
    replay_tool(bin_dir, "curl", "", 7)  # curl: could not connect
    value, failed = load_fact(ProxyTraffic, bin_dir, access_log=str(tmp_path / "none.log"), lines=10, metrics_port=9101)
    assert (value, failed) == ({"requests": [], "ollama": {}}, False)


def test_fact_skips_a_line_that_is_not_json(tmp_path, bin_dir):
    log = tmp_path / "access.log"
    log.write_text(json.dumps(entry("alice")) + "\n" + '{"cut sho\n')
    value, _ = load_fact(ProxyTraffic, bin_dir, access_log=str(log), lines=10, metrics_port=0)
    assert [request["client"] for request in value["requests"]] == ["alice"]


@pytest.mark.parametrize(("values", "fraction", "expected"),
                         [([], 0.5, None), ([7], 0.95, 7), ([4, 1, 3, 2], 0.5, 2), (list(range(1, 101)), 0.95, 95)])
def test_percentile_is_the_nearest_rank(values, fraction, expected):
    assert percentile(values, fraction) == expected


def test_summary_counts_each_clients_requests_errors_and_429s():
    requests = [entry("alice"), entry("alice", 429), entry("alice", 503), entry("bob"), entry("-", 401)]
    counts = {row["client"]: (row["requests"], row["errors"], row["limited"]) for row in client_summaries(requests)}
    assert counts == {"alice": (3, 2, 1), "bob": (1, 0, 0), "-": (1, 1, 0)}


def test_summary_latency_leaves_out_requests_ollama_never_answered():
    requests = [entry("alice", duration_ms=ms, ttfb_ms=ms // 10) for ms in (100, 200, 300)]
    requests.append(entry("alice", 403, duration_ms=0, ttfb_ms=-1))
    [row] = client_summaries(requests)
    assert (row["p50_ms"], row["p95_ms"], row["ttfb_p50_ms"]) == (100, 300, 20)


def test_busiest_client_comes_first():
    rows = client_summaries([entry("bob"), entry("alice"), entry("alice")])
    assert [row["client"] for row in rows] == ["alice", "bob"]


def test_printed_table_has_a_row_per_client_and_ollamas_load():
    status = {"from": "a", "to": "b", "ollama": {"in_progress": 1, "queued": 0},
              "clients": client_summaries([entry("alice"), entry("bob", 429, ttfb_ms=-1)])}
    lines = printable_traffic("mac", status).splitlines()
    assert lines[0] == "mac: 2 requests from a to b; Ollama now: 1 in progress, 0 queued"
    assert [line.split()[:4] for line in lines[2:]] == [["alice", "1", "0", "0"], ["bob", "1", "1", "1"]]


def test_models_table_says_which_are_declared_present_and_loaded():
    settings = Settings.from_data({"ollama_models": ["llama3.2", "qwen2.5-coder:7b"]})
    found = {"reachable": True, "models": {
        "llama3.2:latest": {"name": "llama3.2:latest", "size": 2019393189},
        "gemma3:latest": {"name": "gemma3:latest", "size": 3338801804}},
        "loaded": {"llama3.2:latest": {"name": "llama3.2:latest"}}, "manifests": {}, "volume": None}
    rows = model_rows(settings, found)
    assert [(row["model"], row["declared"], row["present"], row["loaded"], row["size"]) for row in rows] == [
        ("gemma3:latest", False, True, False, 3338801804), ("llama3.2:latest", True, True, True, 2019393189),
        ("qwen2.5-coder:7b", True, False, False, None)]
    lines = printable_models("mac", rows).splitlines()
    assert lines[0] == "mac: 2 model(s) present, 2 declared, 1 loaded"
    assert lines[3].split() == ["llama3.2:latest", "yes", "yes", "yes", "2.0", "GB"]
