"""The model allowlist (ollama_allowed_models) on the real HAProxy: listed models
pass in every spelling Ollama accepts; any other model, in the body or the path,
gets 403 JSON and never reaches Ollama, including bodies built to make HAProxy
and Ollama's Go JSON decoder disagree; a coding agent's large body passes; a
body too large to read whole is refused, never let through unchecked."""

from __future__ import annotations

import json

import pytest

from private_ollama.desired_state.settings import Settings
from tests.proxy.haproxy import running_haproxy
from tests.proxy.processes import free_port
from tests.proxy.wire import exchange, new_marker, request

ALLOWED, OTHER = "llama3.2", "qwen2.5-coder:32b"  # both models exist in the stand-in
BUFFER = 1024 * 1024
NOT_ALLOWED = {"error": "model not allowed"}


@pytest.fixture(scope="module")
def filtered(haproxy_binary, ollama, tmp_path_factory):
    settings = Settings.from_data({"proxy_port": free_port(), "ollama_port": ollama.port,
                             "ollama_allowed_models": [ALLOWED], "proxy_buffer_bytes": BUFFER})
    with running_haproxy(settings, tmp_path_factory.mktemp("models")) as proxy:
        yield proxy


def send(proxy, method: str, target: str, body: bytes = b""):
    """(response, marker) of one request."""
    marker = new_marker()
    [response] = exchange(proxy.port, request(method, target, proxy.host, marker, body), expect=1)
    return response, marker


def chat(model: object) -> bytes:
    return json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": False}).encode()


def coding_agent_body(model: str, size: int) -> bytes:
    """A body like Claude Code's: long history, tool schemas with their own "model" keys, the model last."""
    tool = {"name": "Task", "input_schema": {"type": "object", "properties": {
        "model": {"type": "string", "enum": ["sonnet", "haiku"]}, "prompt": {"type": "string"}}}}
    history = [{"role": "assistant", "content": [{"type": "tool_use", "name": "Task", "input": {"model": "haiku"}}]}]
    body = {"system": "You are a coding agent.", "tools": [tool] * 20, "messages": history, "max_tokens": 1}
    filler = size - len(json.dumps({**body, "model": model}))
    body["messages"].append({"role": "user", "content": "def f():\n    return \"caf\u00e9\"\n" * (filler // 36)})
    return json.dumps({**body, "model": model}).encode()


ADMITTED = {
    "bare name": ("POST", "/v1/chat/completions", chat(ALLOWED)),
    "name:latest": ("POST", "/v1/chat/completions", chat(f"{ALLOWED}:latest")),
    "other case": ("POST", "/v1/chat/completions", chat(f"{ALLOWED.upper()}:LATEST")),
    "legacy name field": ("POST", "/api/show", json.dumps({"name": ALLOWED}).encode()),
    "model in the path": ("GET", f"/v1/models/{ALLOWED}:latest", b""),
    "colon as %3A in the path": ("GET", f"/v1/models/{ALLOWED}%3Alatest", b""),
    "no model at all": ("GET", "/api/tags", b""),
    "coding agent body of 600 KB": ("POST", "/v1/messages", coding_agent_body(ALLOWED, 600_000)),
}


@pytest.mark.parametrize(("method", "target", "body"), list(ADMITTED.values()), ids=list(ADMITTED))
def test_allowed_model_reaches_ollama_whole(filtered, ollama, method, target, body):
    _, marker = send(filtered, method, target, body)
    assert [seen["body_length"] for seen in ollama.record.with_marker(marker)] == [len(body)]


REFUSED = {
    "other model": ("POST", "/v1/chat/completions", chat(OTHER)),
    "other model by name": ("POST", "/api/show", json.dumps({"name": OTHER}).encode()),
    "allowed name, other model": ("POST", "/api/show", json.dumps({"model": ALLOWED, "name": OTHER}).encode()),
    "other model in the path": ("GET", f"/v1/models/{OTHER}", b""),
    "other model in the path, %3A": ("GET", f"/v1/models/{OTHER.replace(':', '%3A')}", b""),
    # Go's encoding/json takes the last duplicate; HAProxy's json_query the first.
    "duplicate key, other last": ("POST", "/v1/chat/completions", b'{"model":"llama3.2","model":"' + OTHER.encode() + b'"}'),
    # Go matches keys in any case and decodes escapes in them.
    "key in other case": ("POST", "/v1/chat/completions", b'{"model":"llama3.2","Model":"' + OTHER.encode() + b'"}'),
    "escaped key": ("POST", "/v1/chat/completions", b'{"model":"llama3.2","mod\\u0065l":"' + OTHER.encode() + b'"}'),
    "escaped value": ("POST", "/v1/chat/completions", b'{"model":"llama3.2:l\\u0061test"}'),
    "second object after the first": ("POST", "/v1/chat/completions", chat(ALLOWED) + chat(OTHER)),
    "not an object": ("POST", "/v1/chat/completions", json.dumps([{"model": ALLOWED}]).encode()),
    "null model": ("POST", "/v1/chat/completions", chat(None)),
    "not JSON": ("POST", "/v1/chat/completions", b"model=llama3.2"),
    "nesting too deep to read": ("POST", "/v1/chat/completions",
                                 b'{"a":' + b"[" * 1000 + b"]" * 1000 + b',"model":"llama3.2"}'),
    "other model, large body": ("POST", "/v1/messages", coding_agent_body(OTHER, 600_000)),
}


@pytest.mark.parametrize(("method", "target", "body"), list(REFUSED.values()), ids=list(REFUSED))
def test_other_model_gets_403_json(filtered, method, target, body):
    response, _ = send(filtered, method, target, body)
    assert (response.status, response.json()) == (403, NOT_ALLOWED)


@pytest.mark.parametrize(("method", "target", "body"), list(REFUSED.values()), ids=list(REFUSED))
def test_other_model_never_reaches_ollama(filtered, ollama, method, target, body):
    _, marker = send(filtered, method, target, body)
    assert not ollama.record.has(marker)


def test_body_larger_than_the_buffer_is_refused_unread(filtered, ollama):
    response, marker = send(filtered, "POST", "/v1/messages", coding_agent_body(ALLOWED, BUFFER + 100_000))
    assert (response.status, response.json()) == (413, {"error": "request body too large to check its model"})
    assert not ollama.record.has(marker)


def test_without_the_allowlist_any_model_passes(proxy):
    response, _ = send(proxy, "POST", "/v1/chat/completions", chat(OTHER))
    assert response.status == 200
