"""Section 6: what one hop across a pool costs (issue 11).

Two members of one pool on loopback (``tests.proxy.pool``): the holder declares the
bench's model, the asked member another one. Asked for the holder's model, the asked
member's HAProxy forwards the request to the holder's HAProxy, which serves it from
its Ollama. Each cell runs both ways back to back, so the hop's added latency and
per-chunk delay are paired within a round:

- **holder**: the request sent to the holder's proxy, as a client of it would
- **one hop**: the same request sent to the asked member, which forwards it to the holder

The backends are section 1's (nginx, canned bodies) and section 2's (timed stream).

.. code:: python

    results = measure(FULL, Path("build/bench/pool"))
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.endpoint import Endpoint
from bench.nginx import CHAT_REQUEST, running_nginx
from bench.plan import Plan
from bench.proxies import MODEL
from bench.proxy_overhead import load_rounds
from bench.proxy_overhead import summarise as summarise_requests
from bench.streaming import running_stream_backend, stream_requests, stream_rounds
from bench.streaming import summarise as summarise_streams
from bench.streaming import targets as stream_targets
from tests.proxy.pool import running_pool
from tests.proxy.processes import wait_until

ASKED, HOLDER, HOP = "asked", "holder", "one hop"
OTHER_MODEL = "qwen2.5-coder:7b"  # what the asked member holds: not the bench's model
REQUESTS = {"POST /v1/chat/completions": ("POST", "/v1/chat/completions", CHAT_REQUEST)}
WAYS = {HOLDER: "the request sent to the holder's proxy, as its own client would",
        HOP: "the same request sent to a member without the model, which forwards it to the holder's proxy"}


@contextmanager
def running_pool_ways(workdir: Path, backend_port: int) -> Iterator[dict[str, Endpoint]]:
    """A two-member pool in front of ``backend_port``; yields way -> endpoint, once the hop serves."""
    declared = {ASKED: [OTHER_MODEL], HOLDER: [MODEL]}
    with running_pool(workdir, declared, backends=dict.fromkeys(declared, backend_port)) as pool:
        reach = {name: Endpoint(proxy.port, proxy.host, address=proxy.address)
                 for name, proxy in ((HOLDER, pool.proxies[HOLDER]), (HOP, pool.proxies[ASKED]))}
        # The asked member forwards once its health check has found the holder up.
        wait_until(lambda: reach[HOP].answers("POST", "/v1/chat/completions", CHAT_REQUEST),
                   "the asked member serves the holder's model")
        yield reach


def measure(plan: Plan, workdir: Path) -> dict:
    levels = dict.fromkeys(WAYS, plan.hop_concurrency)
    with running_nginx(workdir / "nginx", max(plan.hop_concurrency) * 4) as backend, \
            running_pool_ways(workdir / "requests", backend) as reach:
        requests = load_rounds(reach, REQUESTS, levels, plan)
    with running_stream_backend(workdir / "stream", plan.stream_interval_ms) as backend, \
            running_pool_ways(workdir / "streams", backend) as reach:
        sse = {"SSE": stream_requests(plan.stream_chunks)["SSE"]}
        streams = stream_rounds(reach, sse, plan.hop_concurrency, plan)
    return {
        "members": {ASKED: [OTHER_MODEL], HOLDER: [MODEL]},
        "ways": [{"name": name, "about": about} for name, about in WAYS.items()],
        "backend": "section 1's nginx (canned bodies) for requests; section 2's stream backend for streams",
        "chunks_per_stream": plan.stream_chunks, "interval_ms": plan.stream_interval_ms,
        "request_runs": requests, "stream_runs": streams,
        "requests": summarise_requests(requests, references=(HOLDER,)),
        "streams": summarise_streams(streams, reference=HOLDER),
    }


def targets(section: dict) -> list[dict]:
    """Section 2's targets for the hop over the holder: it holds no chunk back."""
    return stream_targets(section["streams"], way=HOP)
