"""Several Macs as one service, on the real HAProxy: each member sends a request to a member that holds its
model (the least busy where several do), skips a member that is down, answers 404 or 503 in the caller's
shape naming the model, lists the whole pool's models; a request crosses one hop at most, only members
may mark a hop or name its client, and the serving Mac logs the real client."""

from __future__ import annotations

import http.client
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from private_ollama.desired_state.api_keys import KeyStore
from tests.proxy.pool import running_pool
from tests.proxy.processes import wait_until
from tests.proxy.refusals import assert_refused
from tests.proxy.wire import new_marker

DECLARED = {"mac-a": ["llama3.2"], "mac-b": ["qwen2.5-coder:32b"], "mac-c": ["llama3.2"]}
ONLY_ON_B = "qwen2.5-coder:32b"


def chat(model: str, **fields) -> bytes:
    return json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": False,
                       **fields}).encode()


@pytest.fixture(scope="module")
def pool(haproxy_binary, tmp_path_factory):
    with running_pool(tmp_path_factory.mktemp("pool"), DECLARED, proxy_access_log=True) as lab:
        yield lab


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/chat/completions", chat(ONLY_ON_B)),
    ("/v1/messages", json.dumps({"model": ONLY_ON_B, "max_tokens": 5, "messages": []}).encode()),
    ("/api/show", json.dumps({"model": "", "name": ONLY_ON_B}).encode()),  # the Go client's show
    ("/v1/models/qwen2.5-coder%3A32b", b""),
])
def test_a_model_only_b_holds_is_served_by_b(pool, path, body):
    marker = new_marker()
    response = pool.ask("mac-a", "POST" if body else "GET", path, body, marker)
    assert response.status == 200, response.body
    assert pool.served_by(marker) == ["mac-b"]


def test_a_model_this_mac_holds_alone_is_served_here(pool):
    marker = new_marker()
    assert pool.ask("mac-b", "POST", "/v1/chat/completions", chat(ONLY_ON_B), marker).status == 200
    assert pool.served_by(marker) == ["mac-b"]


def test_names_are_compared_as_ollama_compares_them(pool):
    marker = new_marker()
    assert pool.ask("mac-a", "POST", "/v1/chat/completions", chat("QWEN2.5-Coder:32B"), marker).status == 200
    assert pool.served_by(marker) == ["mac-b"]


def test_a_request_that_names_no_model_is_served_here(pool):
    marker = new_marker()
    assert pool.ask("mac-b", "GET", "/api/version", marker=marker).status == 200
    assert pool.served_by(marker) == ["mac-b"]


def test_a_model_two_members_hold_is_spread_across_both_under_concurrency(pool):
    markers = [new_marker() for _ in range(12)]
    body = chat("llama3.2", max_tokens=8)  # long enough that requests overlap
    with ThreadPoolExecutor(max_workers=6) as workers:
        statuses = list(workers.map(lambda marker: pool.ask("mac-a", "POST", "/v1/chat/completions", body,
                                                            marker).status, markers))
    served = [name for marker in markers for name in pool.served_by(marker)]
    assert statuses == [200] * 12 and len(served) == 12
    assert set(served) == {"mac-a", "mac-c"}  # both holders, never mac-b


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/chat/completions", "/api/chat"])
def test_a_model_no_member_holds_is_a_404_naming_it(pool, path):
    marker = new_marker()
    response = pool.ask("mac-a", "POST", path, chat("llama9:70b"), marker)
    if path == "/api/chat":  # not in the default route sets: refused before routing
        assert response.status == 403
    else:
        assert_refused(response, "model_not_in_pool", path, "llama9:70b")
    assert pool.served_by(marker) == []


def test_a_404_names_the_model_as_sent_and_at_most_its_first_200_bytes(pool):
    for model in ("Llama9", "m" * 100_000, "\"\u00e9" * 100):  # the last one cut inside a character
        marker = new_marker()
        response = pool.ask("mac-a", "POST", "/v1/chat/completions",
                            json.dumps({"model": model}, ensure_ascii=False).encode(), marker)
        assert pool.served_by(marker) == []
        assert_refused(response, "model_not_in_pool", "/v1/chat/completions", model)


def claude_code_body(model: str) -> bytes:
    """A coding agent's body: a tool schema with a "model" of its own, the model last."""
    tool = {"name": "Task", "input_schema": {"type": "object", "properties": {"model": {"enum": ["haiku"]}}}}
    return json.dumps({"tools": [tool], "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5,
                       "model": model}).encode()


DEEP = "[" * 30 + "]" * 30  # deeper than HAProxy's json_query reads (20 levels)
# Where the model may stand: what comes before it is no reason to read another one (or none).
PLACED = {
    "after a nested model of its own": ("/v1/messages", claude_code_body(ONLY_ON_B)),
    "after deep nesting": ("/v1/chat/completions", f'{{"a":{DEEP},"model":"{ONLY_ON_B}"}}'.encode()),
    "after deep nesting, with another name first": (
        "/v1/chat/completions", f'{{"name":"llama3.2","a":{DEEP},"model":"{ONLY_ON_B}"}}'.encode()),
    "after every JSON value and escape": ("/v1/chat/completions", json.dumps(
        {"a": [0, -1.5e-3, 2E+8, True, False, None, {}, [], "\"\\/\b\f\n\r\t\u00e9\ud83d"], "model": ONLY_ON_B},
        ensure_ascii=True).encode()),
    "by name after deep nesting": ("/api/show", f'{{"model":"","a":{DEEP},"name":"{ONLY_ON_B}"}}'.encode()),
}


def test_on_v1_models_the_path_names_the_model_whatever_the_body(pool):
    # Ollama reads the model from the path there; a body is no reason to route elsewhere.
    for body in (b"", b"{}", json.dumps({"model": "llama3.2"}).encode()):
        marker = new_marker()
        response = pool.ask("mac-a", "GET", f"/v1/models/{ONLY_ON_B}", body, marker)
        assert response.status == 200, (body, response.body)
        assert pool.served_by(marker) == ["mac-b"], body


@pytest.mark.parametrize(("path", "body"), list(PLACED.values()), ids=list(PLACED))
def test_the_top_level_model_routes_wherever_it_stands(pool, path, body):
    marker = new_marker()
    response = pool.ask("mac-a", "POST", path, body, marker)
    assert response.status == 200, response.body
    assert pool.served_by(marker) == ["mac-b"]


# Bodies that HAProxy's plain reading and Ollama's Go decoder would read as different models (Go takes the
# last duplicate, matches keys in any case, decodes escapes): routed by one, Ollama would serve the other.
# Sent to mac-a, which holds llama3.2 but not ONLY_ON_B.
CRAFTED = {
    "duplicate key, other last": b'{"model":"llama3.2","model":"' + ONLY_ON_B.encode() + b'"}',
    "empty model, then another": b'{"model":"","model":"' + ONLY_ON_B.encode() + b'"}',
    "key in other case": b'{"model":"llama3.2","Model":"' + ONLY_ON_B.encode() + b'"}',
    "escaped key": b'{"mod\\u0065l":"' + ONLY_ON_B.encode() + b'"}',
    "escaped value": b'{"model":"llama3.2:l\\u0061test"}',
    "null model": chat(None),
    "object as model": chat({"name": ONLY_ON_B}),
}


@pytest.mark.parametrize("body", list(CRAFTED.values()), ids=list(CRAFTED))
def test_a_body_ollama_could_read_as_another_model_is_refused_not_routed(pool, body):
    marker = new_marker()
    response = pool.ask("mac-a", "POST", "/v1/chat/completions", body, marker)
    assert_refused(response, "model_not_checkable", "/v1/chat/completions")
    assert pool.served_by(marker) == []


def test_a_body_that_is_not_one_json_object_is_refused_not_routed(pool):
    for body in (b"model=" + ONLY_ON_B.encode(), chat("llama3.2") + chat(ONLY_ON_B)):
        marker = new_marker()
        assert_refused(pool.ask("mac-a", "POST", "/v1/chat/completions", body, marker), "invalid_json",
                       "/v1/chat/completions")
        assert pool.served_by(marker) == []


@pytest.mark.parametrize("listing", ["/api/tags", "/v1/models"])
def test_every_member_lists_the_whole_pool_once(pool, listing):
    for name in DECLARED:
        response = pool.ask(name, "GET", listing)
        body = response.json()
        names = [entry["name"] for entry in body["models"]] if listing == "/api/tags" else [
            entry["id"] for entry in body["data"]]
        assert (response.status, names) == (200, ["llama3.2:latest", "qwen2.5-coder:32b"]), name


def test_a_denied_route_reaches_no_members_ollama(pool):
    marker = new_marker()
    response = pool.ask("mac-a", "POST", "/api/pull", json.dumps({"model": ONLY_ON_B}).encode(), marker)
    assert_refused(response, "route_not_allowed", "/api/pull")
    assert pool.served_by(marker) == []


def test_a_client_cannot_mark_its_request_as_a_members(pool):
    for header in ("X-Private-Ollama-Hop: 1", "X-Private-Ollama-Client: alice"):
        marker = new_marker()
        response = pool.ask("mac-b", "POST", "/v1/chat/completions", chat(ONLY_ON_B), marker, headers=(header,))
        assert_refused(response, "pool_header_forged", "/v1/chat/completions")
        assert pool.served_by(marker) == []


def test_a_hop_from_a_member_is_served_there_never_forwarded_again(pool):
    # From mac-a's address, as mac-a's proxy sends: mac-b serves it itself, though only mac-a and mac-c hold it.
    marker = new_marker()
    response = pool.ask("mac-b", "POST", "/v1/chat/completions", chat("llama3.2"), marker,
                        headers=("X-Private-Ollama-Hop: 1", "X-Private-Ollama-Client: 100.64.9.9"),
                        source=pool.addresses["mac-a"])
    assert response.status == 200 and pool.served_by(marker) == ["mac-b"]


def access_log(pool, name: str) -> list[dict]:
    return [json.loads(line) for line in pool.proxies[name].log.read_text().splitlines() if line.startswith('{"time"')]


def test_the_serving_mac_logs_the_real_client(pool):
    before = len(access_log(pool, "mac-b"))
    pool.ask("mac-a", "POST", "/v1/chat/completions", chat(ONLY_ON_B, max_tokens=1))
    wait_until(lambda: len(access_log(pool, "mac-b")) > before, "mac-b logs the request", timeout=5)
    last = access_log(pool, "mac-b")[-1]
    assert last["client"] == "127.0.0.1"  # the client's address, not mac-a's
    assert last["address"] == pool.addresses["mac-a"]


def test_a_stream_through_a_hop_is_not_held_back(pool):
    proxy = pool.proxies["mac-a"]
    connection = http.client.HTTPConnection(proxy.address, proxy.port, timeout=10)
    body = json.dumps({"model": ONLY_ON_B, "stream": True, "max_tokens": 40, "messages": []})
    connection.request("POST", "/v1/chat/completions", body, {"Host": proxy.host})
    response = connection.getresponse()
    delays = []
    while line := response.readline():
        if line.startswith(b"data: {"):
            delays.append(time.time_ns() - json.loads(line[6:])["standin_sent_ns"])
    connection.close()
    assert len(delays) == 41
    assert sorted(delays)[int(len(delays) * 0.95)] < 40_000_000  # p95 under 40 ms: chunks go on as they come


def test_a_member_down_gets_503_at_once_and_is_served_again_once_back(haproxy_binary, tmp_path):
    with running_pool(tmp_path, DECLARED) as lab:
        lab.stop("mac-b")
        started = time.monotonic()
        response = lab.ask("mac-a", "POST", "/v1/messages", chat(ONLY_ON_B))
        assert time.monotonic() - started < 3
        assert_refused(response, "model_unavailable", "/v1/messages", ONLY_ON_B)  # Anthropic's shape there
        assert response.headers["retry-after"] == "2"
        assert lab.ask("mac-a", "POST", "/v1/chat/completions", chat("llama3.2")).status == 200  # the others go on
        lab.start("mac-b")
        wait_until(lambda: lab.ask("mac-a", "POST", "/v1/chat/completions", chat(ONLY_ON_B)).status == 200,
                   "mac-b serves again", timeout=10)


def test_with_keys_a_key_works_through_every_member_and_its_name_is_logged_where_served(haproxy_binary, tmp_path):
    store = KeyStore(tmp_path / "keys" / "api-keys.json")
    key = store.add("alice")
    with running_pool(tmp_path / "pool", DECLARED, proxy_api_keys=True, proxy_api_keys_file=str(store.path),
                      proxy_access_log=True) as lab:
        for name in DECLARED:
            marker = new_marker()
            response = lab.ask(name, "POST", "/v1/chat/completions", chat(ONLY_ON_B), marker,
                               headers=(f"Authorization: Bearer {key}",))
            assert response.status == 200 and lab.served_by(marker) == ["mac-b"], name
        assert lab.ask("mac-a", "POST", "/v1/chat/completions", chat(ONLY_ON_B)).status == 401
        wait_until(lambda: any(entry["client"] == "alice" and entry["address"] == lab.addresses["mac-a"]
                               for entry in access_log(lab, "mac-b")), "mac-b logs alice's hop", timeout=5)
