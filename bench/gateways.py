"""Section 7: the proxy beside the gateway users would pick instead, LiteLLM's proxy (issue 12).

Every way stands in front of the same backends as sections 1 and 2 (nginx's canned
chat completion; the timed stream), all running at once, interleaved in the same rounds:

- **direct**: straight to the backend, the floor
- **rendered**: the rendered config, default knobs
- **rendered, API keys and rate limit**: with ``proxy_api_keys`` (the request carries a key) and
  a rate limit far above the load
- **LiteLLM**: LiteLLM's proxy (``bench.litellm_proxy``), no checks
- **LiteLLM, master key and rate limit**: with its ``master_key`` and a per-model rpm limit far
  above the load, the only limit it enforces without a database

Each checked way is first asked without its key (the status is recorded: the
checks are on). Non-streamed runs also record each way's memory and cores busy (``bench.footprint``); its
idle footprint is read before the rounds and after them.

.. code:: python

    results = measure(FULL, Path("build/bench/gateways"), say)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path

from bench.endpoint import Endpoint
from bench.footprint import at_idle
from bench.litellm_proxy import VERSION, installed_litellm, litellm_installed, running_litellm
from bench.nginx import CHAT_REQUEST, running_nginx
from bench.plan import Plan
from bench.proxies import Variant, one_api_key, running_variant
from bench.proxy_overhead import load_rounds
from bench.proxy_overhead import summarise as summarise_requests
from bench.streaming import running_stream_backend, stream_requests, stream_rounds
from bench.streaming import summarise as summarise_streams

DIRECT, RENDERED, RENDERED_CHECKED = "direct", "rendered", "rendered, API keys and rate limit"
LITELLM, LITELLM_CHECKED = "LiteLLM", "LiteLLM, master key and rate limit"
REQUEST = "POST /v1/chat/completions"
REQUESTS = {REQUEST: ("POST", "/v1/chat/completions", CHAT_REQUEST)}
# nginx's connection cap here: far above every level, so that only the gateways queue.
BACKEND_CONNECTION_CAP = 1024
RATE_LIMIT = 1_000_000  # requests a minute in the rendered config: never reached, as LiteLLM's
ABOUT = {
    DIRECT: "straight to the backend: the floor",
    RENDERED: "HAProxy with the project's rendered config (default knobs)",
    RENDERED_CHECKED: (f"the rendered config with `proxy_api_keys` (each request carries a key) and "
                       f"`proxy_rate_limit_requests={RATE_LIMIT}` a minute"),
    LITELLM: "LiteLLM's proxy, one worker (its default), no key, no limit",
    LITELLM_CHECKED: ("LiteLLM's proxy with `master_key` (each request carries it) and a per-model `rpm` limit "
                      "enforced by its router's `enforce_model_rate_limits` pre-call check"),
}


def haproxy_ways(workdir: Path) -> list[Variant]:
    keys, headers = one_api_key(workdir)
    return [Variant(DIRECT, ABOUT[DIRECT]), Variant(RENDERED, ABOUT[RENDERED], {}),
            Variant(RENDERED_CHECKED, ABOUT[RENDERED_CHECKED],
                    {"proxy_api_keys": True, **keys, "proxy_rate_limit_requests": RATE_LIMIT}, headers=headers)]


@contextmanager
def running_ways(backend_port: int, workdir: Path, litellm: Path | None) -> Iterator[dict[str, Endpoint]]:
    """Every way in front of ``backend_port`` until the block ends; LiteLLM's when ``litellm`` is given."""
    with ExitStack() as stack:
        reach = {way.name: stack.enter_context(running_variant(way, backend_port, workdir / "haproxy"))
                 for way in haproxy_ways(workdir)}
        if litellm is not None:
            for name, checks in ((LITELLM, False), (LITELLM_CHECKED, True)):
                reach[name] = stack.enter_context(running_litellm(
                    litellm, workdir / ("litellm-checked" if checks else "litellm"), backend_port, checks))
        yield reach


def idle_footprint(reach: dict[str, Endpoint], seconds: float) -> dict[str, dict]:
    return {name: at_idle(endpoint.pid, seconds) for name, endpoint in reach.items() if endpoint.pid}


def measure(plan: Plan, workdir: Path, say: Callable[[str], None]) -> dict:
    litellm = installed_litellm(say) if plan.install_litellm or litellm_installed() else None
    skipped = "" if litellm else ("LiteLLM not measured: a quick run does not install its proxy (`make bench` "
                                  "installs it once, into build/bench-litellm); the rendered ways only")
    if skipped:
        say(skipped)
    with running_nginx(workdir / "nginx", BACKEND_CONNECTION_CAP) as backend, \
            running_ways(backend, workdir / "requests", litellm) as reach:
        without_key = {name: replace(reach[name], headers={}).status(*REQUESTS[REQUEST])
                       for name in (RENDERED_CHECKED, LITELLM_CHECKED) if name in reach}
        idle = idle_footprint(reach, plan.proxy_seconds)
        requests = load_rounds(reach, REQUESTS, dict.fromkeys(reach, plan.concurrency), plan, footprint=True)
        idle_after = idle_footprint(reach, plan.proxy_seconds)
        ways = [{"name": name, "about": ABOUT[name]} for name in reach]
    with running_stream_backend(workdir / "stream", plan.stream_interval_ms) as backend, \
            running_ways(backend, workdir / "streams", litellm) as reach:
        streams = stream_rounds(reach, {"SSE": stream_requests(plan.stream_chunks)["SSE"]}, plan.stream_counts, plan)
    return {
        "ways": ways, "skipped": skipped, "litellm": VERSION,
        "backend": {"server": "nginx, 1 worker, canned bodies", "connection_cap": BACKEND_CONNECTION_CAP,
                    "streams": "bench/stream_backend.py"},
        "chunks_per_stream": plan.stream_chunks, "interval_ms": plan.stream_interval_ms,
        "without_key": without_key, "idle": idle, "idle_after": idle_after,
        "request_runs": requests, "stream_runs": streams,
        "requests": summarise_requests(requests, references=(DIRECT, RENDERED, RENDERED_CHECKED)),
        "streams": summarise_streams(streams, reference=DIRECT),
    }


# What keys and a rate limit may cost the rendered config, per request (p50): a tenth of what a gateway
# in Python costs at its best (LiteLLM's p50 at concurrency 1 was 9.5 ms in the run of 2026-12-03).
CHECKS_BUDGET_MS = 0.5


def targets(section: dict) -> list[dict]:
    """The claims of the README, per level: the rendered config's checks cost under
    ``CHECKS_BUDGET_MS`` (p50); with the checks on both, the rendered config answers faster (p50)
    and serves more (req/s) than LiteLLM, when LiteLLM was measured."""
    found = []
    for row in section["requests"]:
        cell = f"checks on, concurrency {row['concurrency']}"
        if row["variant"] == RENDERED_CHECKED:
            added = row[f"vs_{RENDERED}"]["added_p50_ms"]["median"]
            found.append({"target": f"keys and a rate limit add < {CHECKS_BUDGET_MS} ms p50 to the rendered "
                                    f"config (concurrency {row['concurrency']})",
                          "measured": added, "met": added < CHECKS_BUDGET_MS})
        if row["variant"] == LITELLM_CHECKED:
            paired = row[f"vs_{RENDERED_CHECKED}"]
            found.append({"target": f"LiteLLM's p50 over the rendered config's > 1 ({cell})",
                          "measured": paired["p50_ratio"]["median"], "met": paired["p50_ratio"]["median"] > 1})
            found.append({"target": f"LiteLLM's req/s over the rendered config's < 1 ({cell})",
                          "measured": paired["rps_ratio"]["median"], "met": paired["rps_ratio"]["median"] < 1})
    return found
