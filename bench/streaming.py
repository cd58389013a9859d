"""Section 2: what the proxy costs a stream.

``bench.stream_backend`` streams ``plan.stream_chunks`` chunks, one every
``plan.stream_interval_ms``, each stamped with its send time; the client opens
1 or many streams at once on raw sockets and stamps each ``recv``. A chunk's
delay is its arrival minus its send time (one machine, one clock); the added
delay of a way is its delay minus the direct one, paired within a round. Two
chunks sent half an interval apart or more but read by one ``recv`` were
coalesced on the way.

.. code:: python

    results = measure(FULL, Path("build/bench/streaming"))
"""

from __future__ import annotations

import gc
import json
import os
import re
import selectors
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench.endpoint import Endpoint
from bench.plan import Plan
from bench.proxies import MODEL, base_variants, running_variant
from bench.stats import percentile, spread
from tests.proxy.processes import free_port, spawn, stop, wait_until
from tests.proxy.standin import answers

ROOT = Path(__file__).resolve().parent.parent
NDJSON_ROUTE = ("POST", "/api/chat")  # Ollama's own stream, allowed on top of the defaults here
STAMP = re.compile(rb"sent_ns=(\d+)")  # bench.stream_backend's stamp, in each token
TARGET_ADDED_P99_MS = 2.0


def stream_requests(chunks: int) -> dict[str, tuple[str, dict]]:
    """Format -> (path, body) of a request that streams ``chunks`` chunks."""
    messages = [{"role": "user", "content": "hi"}]
    return {
        "SSE": ("/v1/chat/completions", {"model": MODEL, "messages": messages, "stream": True, "max_tokens": chunks}),
        "NDJSON": ("/api/chat", {"model": MODEL, "messages": messages, "options": {"num_predict": chunks}}),
    }


def read_streams(endpoint: Endpoint, path: str, body: dict, count: int, deadline_s: float) -> list[dict]:
    """Open ``count`` streams at once; per stream: request time, first byte, and each recv's stamps."""
    payload = json.dumps(body).encode()
    fields = {**endpoint.request_headers, "Content-Type": "application/json", "Content-Length": str(len(payload)),
              "Connection": "close"}
    head = (f"POST {path} HTTP/1.1\r\n" + "".join(f"{name}: {value}\r\n" for name, value in fields.items())
            + "\r\n").encode()
    selector = selectors.DefaultSelector()
    streams = []
    # Connect them all first, then send: no stream waits unread while another connects.
    connections = [socket.create_connection((endpoint.address, endpoint.port), timeout=10) for _ in range(count)]
    for connection in connections:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        stream = {"sent_ns": time.time_ns(), "first_byte_ns": None, "reads": [], "tail": b""}
        connection.sendall(head + payload)
        connection.setblocking(False)
        selector.register(connection, selectors.EVENT_READ, stream)
        streams.append(stream)
    end = time.monotonic() + deadline_s
    gc.disable()  # a collection would stall every stream's reads at once and look like coalescing
    while selector.get_map() and time.monotonic() < end:
        for key, _ in selector.select(timeout=0.5):
            data = key.fileobj.recv(65536)
            arrived = time.time_ns()
            stream = key.data
            if not data:
                selector.unregister(key.fileobj)
                key.fileobj.close()
                continue
            stream["first_byte_ns"] = stream["first_byte_ns"] or arrived
            lines = (stream["tail"] + data).split(b"\n")
            stream["tail"] = lines.pop()
            stamps = [int(found.group(1)) for line in lines if (found := STAMP.search(line))]
            if stamps:
                stream["reads"].append((arrived, stamps))
    gc.enable()
    for key in list(selector.get_map().values()):  # past the deadline: count what arrived
        key.fileobj.close()
    selector.close()
    return streams


def describe(streams: list[dict], interval_ms: float) -> dict:
    """Delays (ms) of every chunk of every stream; time to first byte; coalesced reads."""
    delays = [(arrived - sent) / 1e6 for stream in streams for arrived, stamps in stream["reads"] for sent in stamps]
    coalesced = sum(1 for stream in streams for _, stamps in stream["reads"]
                    if len(stamps) > 1 and (max(stamps) - min(stamps)) / 1e6 >= interval_ms / 2)
    first_bytes = [(s["first_byte_ns"] - s["sent_ns"]) / 1e6 for s in streams if s["first_byte_ns"]]
    return {
        "chunks": len(delays),
        "delay_p50_ms": percentile(delays, 50), "delay_p99_ms": percentile(delays, 99), "delay_max_ms": max(delays),
        "ttfb_ms": percentile(first_bytes, 50), "ttfb_max_ms": max(first_bytes),
        "coalesced_reads": coalesced,
    }


@contextmanager
def running_stream_backend(workdir: Path, interval_ms: int) -> Iterator[int]:
    """``bench.stream_backend`` on a free loopback port until the block ends; yields the port."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = spawn([sys.executable, "-m", "bench.stream_backend", str(port), str(interval_ms)],
                    workdir / "stream-backend.log", {**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        wait_until(lambda: answers(port), f"the stream backend answers on 127.0.0.1:{port}")
        yield port
    finally:
        stop(process)


def measure(plan: Plan, workdir: Path) -> dict:
    ways = base_variants([NDJSON_ROUTE])
    with ExitStack() as stack:
        backend = stack.enter_context(running_stream_backend(workdir, plan.stream_interval_ms))
        reach = {way.name: stack.enter_context(running_variant(way, backend, workdir / "haproxy")) for way in ways}
        runs = stream_rounds(reach, stream_requests(plan.stream_chunks), plan.stream_counts, plan)
    return {
        "backend": "bench/stream_backend.py (asyncio, chunks on a fixed schedule)",
        "chunks_per_stream": plan.stream_chunks, "interval_ms": plan.stream_interval_ms,
        "variants": [{"name": way.name, "about": way.about} for way in ways],
        "runs": runs,
        "summary": summarise(runs),
    }


def stream_rounds(reach: dict[str, Endpoint], requests: dict[str, tuple[str, dict]], counts: tuple[int, ...],
                  plan: Plan) -> list[dict]:
    """Per (round, format, stream count, way) the streams read and described, the ways back to back."""
    deadline = plan.stream_chunks * plan.stream_interval_ms / 1000 * 5 + 10
    runs = []
    for round_ in range(plan.repeats):
        for form, (path, body) in requests.items():
            for count in counts:
                for name, endpoint in reach.items():
                    streams = read_streams(endpoint, path, body, count, deadline)
                    runs.append({"round": round_, "format": form, "streams": count, "variant": name,
                                 **describe(streams, plan.stream_interval_ms)})
    return runs


def summarise(runs: list[dict], reference: str = "direct") -> list[dict]:
    """Per (format, streams, variant): each measure over rounds, and the delay added over ``reference``
    (paired within a round)."""
    cells = {}
    for run in runs:
        cells.setdefault((run["format"], run["streams"]), {}).setdefault(run["round"], {})[run["variant"]] = run
    rows = []
    for (form, count), rounds in cells.items():
        for name in dict.fromkeys(name for seen in rounds.values() for name in seen):
            mine = [seen for seen in rounds.values() if name in seen]
            row = {"format": form, "streams": count, "variant": name}
            for measure in ("chunks", "delay_p50_ms", "delay_p99_ms", "delay_max_ms", "ttfb_ms", "coalesced_reads"):
                row[measure] = spread([seen[name][measure] for seen in mine])
            if name != reference:
                row["added"] = {measure: spread([seen[name][f"delay_{measure}_ms"] - seen[reference][f"delay_{measure}_ms"]
                                                 for seen in mine]) for measure in ("p50", "p99", "max")}
                row["added"]["ttfb"] = spread([seen[name]["ttfb_ms"] - seen[reference]["ttfb_ms"] for seen in mine])
            rows.append(row)
    return rows


def targets(summary: list[dict], way: str = "rendered") -> list[dict]:
    """p99 added delay at most 2 ms, and no coalescing, through ``way`` (medians of rounds: a one-off
    stall of this shared machine makes any way's reads coalesce, the direct one's too)."""
    found = []
    for row in summary:
        if row["variant"] != way:
            continue
        cell = f"{row['format']}, {row['streams']} stream(s)"
        added = row["added"]["p99"]["median"]
        found.append({"target": f"{way} p99 added delay <= {TARGET_ADDED_P99_MS} ms ({cell})",
                      "measured": added, "met": added <= TARGET_ADDED_P99_MS})
        coalesced = row["coalesced_reads"]["median"]
        found.append({"target": f"no chunk coalescing through {way} ({cell})", "measured": coalesced,
                      "met": coalesced == 0})
    return found
