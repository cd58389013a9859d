"""Streams pass through at once: each token leaves HAProxy as soon as Ollama writes it.

The stand-in sends one chunk every CHUNK_INTERVAL_MS, stamped with its send time
(same machine, same clock). Without ``option http-no-delay`` chunks arrived up
to 200 ms late and glued together; the bounds below leave room for a loaded CI.
"""

from __future__ import annotations

import http.client
import itertools
import json
import statistics

import pytest

from private_ollama.desired_state.settings import Settings
from tests.proxy.haproxy import running_haproxy
from tests.proxy.processes import free_port
from tests.proxy.standin import CHUNK_INTERVAL_MS
from tests.proxy.wire import timed_lines

TOKENS = 30
MAX_P95_DELAY_MS = 20
SEPARATE_GAP_MS = CHUNK_INTERVAL_MS / 5  # chunks glued together arrive microseconds apart

SSE, NDJSON = "text/event-stream", "application/x-ndjson"
# name: (path, request fields, content type, what the last line holds)
STREAMS = {
    "SSE /v1/chat/completions": ("/v1/chat/completions", {"stream": True, "max_tokens": TOKENS}, SSE,
                                 b"data: [DONE]"),
    "SSE /v1/messages": ("/v1/messages", {"stream": True, "max_tokens": TOKENS}, SSE, b'"type":"message_stop"'),
    "SSE /v1/responses": ("/v1/responses", {"stream": True, "max_output_tokens": TOKENS}, SSE,
                          b'"response.completed"'),
    "NDJSON /api/chat": ("/api/chat", {"options": {"num_predict": TOKENS}}, NDJSON, b'"done":true'),
}


@pytest.fixture(scope="module")
def streaming_proxy(haproxy_binary, ollama, tmp_path_factory):
    """The default allowlist plus POST /api/chat, Ollama's own NDJSON stream."""
    settings = Settings.from_data({"proxy_port": free_port(), "ollama_port": ollama.port,
                                   "ollama_extra_routes": [("POST", "/api/chat")]})
    with running_haproxy(settings, tmp_path_factory.mktemp("haproxy-streaming")) as proxy:
        yield proxy


@pytest.fixture(scope="module", params=list(STREAMS), ids=list(STREAMS))
def stream(request, streaming_proxy, model_id):
    """(content type, [(arrival ns, line)]) of one stream read through the proxy."""
    path, fields, _, _ = STREAMS[request.param]
    connection = http.client.HTTPConnection("127.0.0.1", streaming_proxy.port, timeout=10)
    body = json.dumps({"model": model_id, "messages": [{"role": "user", "content": "hi"}], **fields})
    connection.request("POST", path, body, {"Host": streaming_proxy.host, "Content-Type": "application/json"})
    response = connection.getresponse()
    try:
        return request.param, response.getheader("Content-Type"), timed_lines(response)
    finally:
        connection.close()


def stamped_chunks(lines: list[tuple[int, bytes]]) -> list[tuple[int, int]]:
    """(sent ns, arrived ns) of every JSON chunk: NDJSON lines and SSE data lines."""
    chunks = []
    for arrived, line in lines:
        payload = line.removeprefix(b"data: ")
        if payload.startswith(b"{"):
            chunks.append((json.loads(payload)["standin_sent_ns"], arrived))
    return chunks


def test_stream_arrives_whole(stream):
    name, content_type, lines = stream
    _, _, expected_type, last = STREAMS[name]
    non_blank = [line for _, line in lines if line.strip()]
    assert (content_type, len(stamped_chunks(lines)) > TOKENS, last in non_blank[-1]) == (expected_type, True, True)


def test_each_chunk_arrives_within_milliseconds_of_being_sent(stream):
    delays_ms = [(arrived - sent) / 1e6 for sent, arrived in stamped_chunks(stream[2])]
    assert statistics.quantiles(delays_ms, n=20, method="inclusive")[-1] < MAX_P95_DELAY_MS, delays_ms


def test_chunks_sent_apart_arrive_apart(stream):
    chunks = stamped_chunks(stream[2])
    pairs = [(later[1] - earlier[1]) / 1e6 for earlier, later in itertools.pairwise(chunks)
             if (later[0] - earlier[0]) / 1e6 >= CHUNK_INTERVAL_MS / 2]
    glued = [gap for gap in pairs if gap < SEPARATE_GAP_MS]
    assert len(pairs) >= TOKENS - 1
    assert len(glued) <= len(pairs) // 10, f"{len(glued)} of {len(pairs)} chunks arrived glued to the previous one"
