"""Rate and concurrency limits per client, and the global cap toward Ollama, on
the real HAProxy: a burst over the limit gets 429 with Retry-After and the next
window passes; a client over its streams gets 429; other clients are not
affected; requests over the cap queue, then pass or get 503.

Clients are told apart by address (127.0.0.1 and 127.0.0.2 are both loopback)
or, with API keys on, by key. Every wait is bounded.
"""

from __future__ import annotations

import http.client
import json
import time
from contextlib import contextmanager

import pytest

from private_ollama.desired_state.api_keys import KeyStore
from private_ollama.desired_state.settings import Settings
from tests.proxy.haproxy import listening, running_haproxy
from tests.proxy.processes import free_port, wait_until
from tests.proxy.refusals import assert_refused
from tests.proxy.standin import CHUNK_INTERVAL_MS
from tests.proxy.wire import exchange, new_marker, request

RATE = 5  # requests per window
WINDOW_S = 1
STREAMS = 2  # simultaneous requests per client


@contextmanager
def connection(proxy, source: str = "127.0.0.1"):
    connected = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10, source_address=(source, 0))
    try:
        yield connected
    finally:
        connected.close()


def get(proxy, source: str = "127.0.0.1", headers: dict | None = None) -> http.client.HTTPResponse:
    """``GET /api/tags`` from ``source``; the response, read."""
    with connection(proxy, source) as connected:
        connected.request("GET", "/api/tags", headers={"Host": proxy.host, **(headers or {})})
        response = connected.getresponse()
        response.body = response.read()
        return response


@contextmanager
def streaming(proxy, seconds: float, headers: dict | None = None):
    """A chat completion that streams for about ``seconds``, in progress inside the block."""
    body = json.dumps({"model": "llama3.2:latest", "stream": True, "messages": [{"role": "user", "content": "hi"}],
                       "max_tokens": int(seconds * 1000 / CHUNK_INTERVAL_MS)})
    with connection(proxy) as connected:
        connected.request("POST", "/v1/chat/completions", body,
                          headers={"Host": proxy.host, "Content-Type": "application/json", **(headers or {})})
        response = connected.getresponse()
        assert response.status == 200
        response.readline()  # the first token: the stream is under way
        yield response


def limited_proxy(ollama, workdir, **knobs):
    settings = Settings.from_data({"proxy_port": free_port(), "ollama_port": ollama.port, **knobs})
    return running_haproxy(settings, workdir, ready=listening)


def burst(proxy, count: int, **kwargs) -> list[int]:
    return [get(proxy, **kwargs).status for _ in range(count)]


# --- Requests per window ------------------------------------------------------------------


@pytest.fixture
def rate_limited(haproxy_binary, ollama, tmp_path):
    with limited_proxy(ollama, tmp_path, proxy_rate_limit_requests=RATE,
                       proxy_rate_limit_window=f"{WINDOW_S}s") as proxy:
        yield proxy


def test_burst_over_the_rate_gets_429_past_the_limit(rate_limited):
    assert burst(rate_limited, RATE + 3) == [200] * RATE + [429] * 3


def test_429_says_when_to_retry_in_json(rate_limited):
    *_, response = [get(rate_limited) for _ in range(RATE + 1)]
    assert (response.status, response.getheader("Retry-After")) == (429, str(WINDOW_S))
    assert (response.getheader("Content-Type"), json.loads(response.body)) == (
        "application/json", {"error": "too many requests"})


def test_429_is_in_the_dialect_and_retryable(rate_limited):
    for _ in range(RATE):
        get(rate_limited)
    [response] = exchange(rate_limited.port, request("GET", "/v1/models", rate_limited.host, new_marker()), expect=1)
    assert_refused(response, "too_many_requests", "/v1/models")  # no x-should-retry: false, a Retry-After
    assert response.headers["retry-after"] == str(WINDOW_S)


def test_a_quiet_window_later_requests_pass_again(rate_limited):
    burst(rate_limited, RATE + 3)
    time.sleep(2 * WINDOW_S)  # HAProxy's rate is a sliding estimate over the last two windows
    assert burst(rate_limited, RATE) == [200] * RATE


def test_one_clients_burst_does_not_limit_another_address(rate_limited):
    burst(rate_limited, RATE + 1)
    assert get(rate_limited, source="127.0.0.2").status == 200


def test_with_keys_the_limit_follows_the_key_not_the_address(haproxy_binary, ollama, tmp_path):
    store = KeyStore(tmp_path / "api-keys.json")
    keys = {name: {"x-api-key": store.add(name)} for name in ("alice", "bob")}
    with limited_proxy(ollama, tmp_path / "haproxy", proxy_api_keys=True, proxy_api_keys_file=str(store.path),
                       proxy_rate_limit_requests=RATE, proxy_rate_limit_window="1m") as proxy:
        statuses = {
            "alice from two addresses": burst(proxy, RATE, headers=keys["alice"])
            + burst(proxy, 1, source="127.0.0.2", headers=keys["alice"]),
            "bob from the same address": burst(proxy, 1, headers=keys["bob"]),
        }
    assert statuses == {"alice from two addresses": [200] * RATE + [429], "bob from the same address": [200]}


def test_without_a_rate_limit_a_burst_passes(proxy):
    assert set(burst(proxy, 3 * RATE)) == {200}


# --- Requests in progress per client ------------------------------------------------------------


@pytest.fixture
def stream_limited(haproxy_binary, ollama, tmp_path):
    with limited_proxy(ollama, tmp_path, proxy_client_max_concurrent=STREAMS) as proxy:
        yield proxy


def test_request_beyond_the_clients_streams_gets_429(stream_limited):
    with streaming(stream_limited, 5), streaming(stream_limited, 5):
        response = get(stream_limited)
    assert (response.status, response.getheader("Retry-After")) == (429, "1")
    assert json.loads(response.body) == {"error": "too many requests in progress"}


def test_another_client_is_not_held_back_by_those_streams(stream_limited):
    with streaming(stream_limited, 5), streaming(stream_limited, 5):
        assert get(stream_limited, source="127.0.0.2").status == 200


def test_ended_streams_free_their_places(stream_limited):
    with streaming(stream_limited, 0.5) as first, streaming(stream_limited, 0.5) as second:
        first.read(), second.read()
    wait_until(lambda: burst(stream_limited, STREAMS + 1) == [200] * (STREAMS + 1), "the streams' places are free", 2)


# --- The global cap toward Ollama ------------------------------------------------------------------


@pytest.mark.parametrize(("queue_timeout", "expected"), [("1s", 503), ("20s", 200)],
                         ids=["a wait longer than the queue timeout gets 503", "a shorter wait passes"])
def test_request_over_the_cap_waits_in_the_queue(haproxy_binary, ollama, tmp_path, queue_timeout, expected):
    capped = limited_proxy(ollama, tmp_path, proxy_ollama_max_concurrent=1, proxy_queue_timeout=queue_timeout)
    with capped as proxy, streaming(proxy, 2):
        started = time.monotonic()
        response = get(proxy)
        waited = time.monotonic() - started
    assert (response.status, waited > 0.9) == (expected, True)  # it queued rather than being answered at once


def test_queue_timeout_gets_503_json(haproxy_binary, ollama, tmp_path):
    capped = limited_proxy(ollama, tmp_path, proxy_ollama_max_concurrent=1, proxy_queue_timeout="1s")
    with capped as proxy, streaming(proxy, 2):
        response = get(proxy)
    assert (response.getheader("Content-Type"), json.loads(response.body)) == (
        "application/json", {"error": "ollama is unavailable"})


def test_under_the_cap_nothing_waits(haproxy_binary, ollama, tmp_path):
    with limited_proxy(ollama, tmp_path, proxy_ollama_max_concurrent=2) as proxy, streaming(proxy, 2):
        started = time.monotonic()
        response = get(proxy)
        waited = time.monotonic() - started
    assert (response.status, waited < 0.5) == (200, True)
