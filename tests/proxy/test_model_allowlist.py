"""The model allowlist (ollama_allowed_models) on the real HAProxy: listed models
pass in every spelling Ollama accepts, also in the bodies Ollama's own Go client
writes; any other model, in the body or the path, gets 403 JSON and never reaches
Ollama, including bodies built to make HAProxy and Ollama's Go JSON decoder
disagree; a body that is not JSON (RFC 8259) gets 400; a coding agent's large
body passes; a body too large to read whole is refused, never let through unchecked."""

from __future__ import annotations

import json

import pytest

from private_ollama.desired_state.settings import Settings
from tests.proxy.haproxy import running_haproxy
from tests.proxy.processes import free_port
from tests.proxy.refusals import assert_refused
from tests.proxy.wire import exchange, new_marker, request

ALLOWED, OTHER = "llama3.2", "qwen2.5-coder:32b"  # both models exist in the stand-in
BUFFER = 1024 * 1024
NOT_ALLOWED, UNCHECKABLE, NOT_JSON = "model_not_allowed", "model_not_checkable", "invalid_json"


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
    # Ollama's Go client (and CLI) writes every field of ShowRequest: one of model and name is empty.
    "Go client show, by name": ("POST", "/api/show", json.dumps(
        {"model": "", "system": "", "template": "", "verbose": False, "options": None, "name": ALLOWED}).encode()),
    "Go client show, by model": ("POST", "/api/show", json.dumps(
        {"model": ALLOWED, "system": "", "template": "", "verbose": False, "options": None, "name": ""}).encode()),
    "every JSON value and escape": ("POST", "/v1/chat/completions", json.dumps(
        {"model": ALLOWED, "a": [0, -1.5e-3, 2E+8, True, False, None, {}, [], "\"\\/\b\f\n\r\t\u00e9\ud83d"]},
        ensure_ascii=True).encode()),
    "white space wherever RFC 8259 allows it": ("POST", "/v1/chat/completions",
                                                b'\t{\n "model" :\r"llama3.2"\n,\t"a" : [ 1 , { } ] } \n'),
    "empty object": ("POST", "/v1/chat/completions", b"{}"),
    "model in the path": ("GET", f"/v1/models/{ALLOWED}:latest", b""),
    "colon as %3A in the path": ("GET", f"/v1/models/{ALLOWED}%3Alatest", b""),
    "no model at all": ("GET", "/api/tags", b""),
    "coding agent body of 600 KB": ("POST", "/v1/messages", coding_agent_body(ALLOWED, 600_000)),
}


@pytest.mark.parametrize(("method", "target", "body"), list(ADMITTED.values()), ids=list(ADMITTED))
def test_allowed_model_reaches_ollama_whole(filtered, ollama, method, target, body):
    _, marker = send(filtered, method, target, body)
    assert [seen["body_length"] for seen in ollama.record.with_marker(marker)] == [len(body)]


def named(model: str) -> tuple[str, str]:
    """The refusal of a model that is not allowed, naming it."""
    return NOT_ALLOWED, model


REFUSED = {
    "other model": ("POST", "/v1/chat/completions", chat(OTHER), named(OTHER)),
    "other model by name": ("POST", "/api/show", json.dumps({"name": OTHER}).encode(), named(OTHER)),
    "empty model, other name": ("POST", "/api/show", json.dumps({"model": "", "name": OTHER}).encode(),
                                named(OTHER)),
    "other model in the path": ("GET", f"/v1/models/{OTHER}", b"", named(OTHER)),
    "other model in the path, %3A": ("GET", f"/v1/models/{OTHER.replace(':', '%3A')}", b"", named(OTHER)),
    "other model, large body": ("POST", "/v1/messages", coding_agent_body(OTHER, 600_000), named(OTHER)),
    "other model first, allowed one last": ("POST", "/v1/chat/completions",
                                            b'{"model":"' + OTHER.encode() + b'","model":"llama3.2"}', named(OTHER)),
    # Named as sent, cut to 200 bytes; a name that no model could have is not shown back.
    "name of 100 KB": ("POST", "/v1/chat/completions", chat("a" * 100_000), named("a" * 100_000)),
    "name with quotes and markup": ("POST", "/v1/chat/completions", chat('x"}</script>'), UNCHECKABLE),
    "name beyond ASCII": ("POST", "/v1/chat/completions",
                          json.dumps({"model": "caf\u00e9"}, ensure_ascii=False).encode(), UNCHECKABLE),
    "name beyond ASCII, escaped": ("POST", "/v1/chat/completions", chat("caf\u00e9"), UNCHECKABLE),
    # An allowed name, spelled so that Ollama could read another model (or none): told how to write it.
    "allowed model, other name": ("POST", "/api/show", json.dumps({"model": ALLOWED, "name": OTHER}).encode(),
                                  UNCHECKABLE),
    # Go's encoding/json takes the last duplicate; HAProxy's json_query the first.
    "duplicate key, other last": ("POST", "/v1/chat/completions",
                                  b'{"model":"llama3.2","model":"' + OTHER.encode() + b'"}', UNCHECKABLE),
    "duplicate key, both allowed": ("POST", "/v1/chat/completions",
                                    b'{"model":"llama3.2","model":"llama3.2:latest"}', UNCHECKABLE),
    "empty model, then another": ("POST", "/v1/chat/completions",
                                  b'{"model":"","model":"' + OTHER.encode() + b'"}', UNCHECKABLE),
    "second name": ("POST", "/api/show", b'{"name":"llama3.2","stream":false,"name":"llama3.2"}', UNCHECKABLE),
    # Go matches keys in any case and decodes escapes in them.
    "key in other case": ("POST", "/v1/chat/completions",
                          b'{"model":"llama3.2","Model":"' + OTHER.encode() + b'"}', UNCHECKABLE),
    "escaped key": ("POST", "/v1/chat/completions",
                    b'{"model":"llama3.2","mod\\u0065l":"' + OTHER.encode() + b'"}', UNCHECKABLE),
    "escaped value": ("POST", "/v1/chat/completions", b'{"model":"llama3.2:l\\u0061test"}', UNCHECKABLE),
    "null model": ("POST", "/v1/chat/completions", chat(None), UNCHECKABLE),
    "number as model": ("POST", "/v1/chat/completions", chat(5), named("5")),
    "object as model": ("POST", "/v1/chat/completions", chat({"name": OTHER}), UNCHECKABLE),
    # Not JSON (RFC 8259), or not one object: 400, whatever model it names.
    "second object after the first": ("POST", "/v1/chat/completions", chat(ALLOWED) + chat(OTHER), NOT_JSON),
    "not an object": ("POST", "/v1/chat/completions", json.dumps([{"model": ALLOWED}]).encode(), NOT_JSON),
    "not JSON": ("POST", "/v1/chat/completions", b"model=llama3.2", NOT_JSON),
    "form feed as white space": ("POST", "/v1/chat/completions", b'{"model":"llama3.2",\f"a":1}', NOT_JSON),
    "vertical tab as white space": ("POST", "/v1/chat/completions", b'{\v"model":"llama3.2"}', NOT_JSON),
    "raw control character in a string": ("POST", "/v1/chat/completions", b'{"model":"llama3.2","a":"x\x01"}',
                                          NOT_JSON),
    "raw newline in a string": ("POST", "/v1/chat/completions", b'{"model":"llama3.2","a":"x\ny"}', NOT_JSON),
    "bare word": ("POST", "/v1/chat/completions", b'{"model":"llama3.2","a":yes}', NOT_JSON),
    "leading zero": ("POST", "/v1/chat/completions", b'{"model":"llama3.2","a":01}', NOT_JSON),
    "NaN": ("POST", "/v1/chat/completions", b'{"model":"llama3.2","a":NaN}', NOT_JSON),
    "unknown escape": ("POST", "/v1/chat/completions", b'{"model":"llama3.2","a":"\\x41"}', NOT_JSON),
    "trailing comma": ("POST", "/v1/chat/completions", b'{"model":"llama3.2",}', NOT_JSON),
    "missing comma": ("POST", "/v1/chat/completions", b'{"model":"llama3.2" "a":1}', NOT_JSON),
    "leading comma": ("POST", "/v1/chat/completions", b'{,"model":"llama3.2"}', NOT_JSON),
    "single quotes": ("POST", "/v1/chat/completions", b"{'model':'llama3.2'}", NOT_JSON),
    "nesting too deep to read": ("POST", "/v1/chat/completions",
                                 b'{"a":' + b"[" * 1000 + b"]" * 1000 + b',"model":"llama3.2"}', NOT_JSON),
}


@pytest.mark.parametrize(("method", "target", "body", "refusal"), list(REFUSED.values()), ids=list(REFUSED))
def test_other_model_or_no_json_is_refused_in_the_callers_dialect(filtered, method, target, body, refusal):
    response, _ = send(filtered, method, target, body)
    name, model = refusal if isinstance(refusal, tuple) else (refusal, None)
    assert_refused(response, name, target, model)


@pytest.mark.parametrize(("method", "target", "body", "refusal"), list(REFUSED.values()), ids=list(REFUSED))
def test_other_model_never_reaches_ollama(filtered, ollama, method, target, body, refusal):
    _, marker = send(filtered, method, target, body)
    assert not ollama.record.has(marker)


def test_body_larger_than_the_buffer_is_refused_unread(filtered, ollama):
    response, marker = send(filtered, "POST", "/v1/messages", coding_agent_body(ALLOWED, BUFFER + 100_000))
    assert_refused(response, "body_too_large_to_check", "/v1/messages")
    assert not ollama.record.has(marker)


def test_without_the_allowlist_any_model_passes(proxy):
    response, _ = send(proxy, "POST", "/v1/chat/completions", chat(OTHER))
    assert response.status == 200
