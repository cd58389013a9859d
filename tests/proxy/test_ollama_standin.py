"""The Ollama stand-in is as strict as Ollama where the proxy and the deploy depend on it.

A stand-in kinder than Ollama would hide proxy bugs: it must route on the
decoded path, redirect unclean paths, refuse foreign Host and Origin values, and
stream for real. Its CLI prints what the captures show. Its models are a store
in Ollama's layout that pulls fill from the registry stand-in (here on
loopback, with a CA of its own) with Ollama's progress and errors, that rm and
delete empty, and that every route reads; generations load models, /api/ps
lists them until their keep_alive ends.
"""

from __future__ import annotations

import base64
import concurrent.futures
import glob
import hashlib
import http.client
import itertools
import json
import os
import re
import socket
import ssl
import struct
import subprocess
import time

import pytest

from lab.standins import ollama_catalogue as catalogue
from lab.standins.ollama_progress import human_bytes
from tests.proxy.processes import free_port, wait_until
from tests.proxy.standin import (
    CHUNK_INTERVAL_MS,
    NO_REGISTRY,
    OLLAMA,
    PYTHON,
    load_standin_module,
    running_registry,
    running_standin,
)
from tests.proxy.wire import exchange, new_marker, request, timed_lines

STANDIN = load_standin_module()


def ask(ollama, method: str, target: str, host: str | None = None, headers: tuple[str, ...] = (),
        body: bytes = b"", marker: str | None = None):
    raw = request(method, target, host or f"127.0.0.1:{ollama.port}", marker or new_marker(), body, headers)
    [response] = exchange(ollama.port, raw, expect=1, head_only=method == "HEAD")
    return response


def cli(ollama, *arguments: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, str(OLLAMA), *arguments], env=ollama.env(**env), check=False, capture_output=True,
                          text=True, timeout=30)


@pytest.mark.parametrize("target", ["/%61pi/tags", "/api/%74ags", "/api/tags?verbose=1"])
def test_routes_on_the_decoded_path(ollama, target):
    response = ask(ollama, "GET", target)
    assert [model["name"] for model in response.json()["models"]] == [model["name"] for model in STANDIN.MODELS]


@pytest.mark.parametrize(
    ("method", "target", "status", "location"),
    [
        ("GET", "//api/tags", 301, "/api/tags"),
        ("GET", "/./api/tags", 301, "/api/tags"),
        ("POST", "/v1/models/../../api/pull", 301, "/api/pull"),
        ("GET", "/%2e%2e/api/tags", 301, "/api/tags"),
        ("GET", "/api/tags/?x=1", 301, "/api/tags"),  # gin's trailing-slash redirect
        ("POST", "/v1/chat/completions/", 307, "/v1/chat/completions"),
    ],
)
def test_unclean_path_is_redirected_never_dispatched(ollama, method, target, status, location):
    marker = new_marker()
    response = ask(ollama, method, target, marker=marker)
    assert (response.status, response.headers["location"].split("?")[0]) == (status, location)


def test_unknown_path_gets_gins_404(ollama):
    response = ask(ollama, "GET", "/API/TAGS")
    assert (response.status, response.headers["content-type"], response.body) == (404, "text/plain",
                                                                                 b"404 page not found")


@pytest.mark.parametrize(
    ("method", "target", "allow"),
    [("GET", "/api/pull", "POST"), ("POST", "/api/tags", "HEAD, GET"), ("HEAD", "/api/ps", "GET"),
     ("GET", "/v1/chat%2Fcompletions", "POST"), ("get", "/api/tags", "HEAD, GET")],
)
def test_wrong_method_gets_gins_405_with_allow(ollama, method, target, allow):
    response = ask(ollama, method, target)
    assert (response.status, response.headers["allow"]) == (405, allow)


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:11434", "127.0.0.1", "[::1]:11434", "10.1.2.3", "172.16.0.1:80",
             "192.168.1.10", "0.0.0.0", "mac-studio.local", "ollama.internal", "app.localhost",
             socket.gethostname()],
)
def test_local_host_is_accepted(ollama, host):
    assert ask(ollama, "GET", "/api/version", host=host).status == 200


@pytest.mark.parametrize(
    "host", ["remote-ollama", "remote-ollama.tail1234.ts.net:11434", "100.101.102.103", "evil.example", "[::1]"],
)
def test_foreign_host_gets_an_empty_403(ollama, host):
    response = ask(ollama, "GET", "/api/version", host=host)
    assert (response.status, response.body) == (403, b"")


@pytest.mark.parametrize(
    ("origin", "status"),
    [("https://evil.example", 403), ("http://remote-ollama:11434", 403), ("http://localhost:3000", 200),
     ("app://obsidian.md", 200), ("vscode-webview://1234", 200)],
)
def test_origin_is_checked_like_ollamas_cors(ollama, origin, status):
    assert ask(ollama, "GET", "/api/version", headers=(f"Origin: {origin}",)).status == status


def test_ollama_origins_adds_an_origin(tmp_path):
    with running_standin(tmp_path, OLLAMA_ORIGINS="https://chat.example") as ollama:
        assert ask(ollama, "GET", "/api/version", headers=("Origin: https://chat.example",)).status == 200


def test_each_request_is_recorded_as_received(ollama, model_id):
    marker = new_marker()
    body = json.dumps({"model": model_id}).encode()
    ask(ollama, "POST", "/%61pi/show", body=body, marker=marker)
    [seen] = ollama.record.with_marker(marker)
    assert (seen["method"], seen["target"], seen["path"], seen["body_length"]) == (
        "POST", "/%61pi/show", "/api/show", len(body))


def test_request_is_recorded_before_its_body_arrives(ollama):
    marker = new_marker()
    with socket.create_connection(("127.0.0.1", ollama.port)) as connection:
        connection.sendall(request("POST", "/api/show", f"127.0.0.1:{ollama.port}", marker, b"")
                           .replace(b"\r\n\r\n", b"\r\nContent-Length: 100\r\n\r\n"))
        wait_until(lambda: ollama.record.has(marker), "the stand-in records the request", timeout=5)


def stream(ollama, path: str, fields: dict) -> list[bytes]:
    """The lines of a streamed answer, de-chunked."""
    connection = http.client.HTTPConnection("127.0.0.1", ollama.port, timeout=10)
    try:
        connection.request("POST", path, json.dumps(fields))
        return [line for _, line in timed_lines(connection.getresponse())]
    finally:
        connection.close()


def test_stream_chunks_are_sent_one_interval_apart(ollama, model_id):
    lines = stream(ollama, "/api/generate", {"model": model_id, "prompt": "hi", "options": {"num_predict": 4}})
    sent = [json.loads(line)["standin_sent_ns"] for line in lines]
    gaps_ms = [(later - earlier) / 1e6 for earlier, later in itertools.pairwise(sent[:4])]  # the 5th is the last
    assert len(sent) == 5 and all(gap >= CHUNK_INTERVAL_MS * 0.8 for gap in gaps_ms), gaps_ms


def test_messages_stream_events_come_in_anthropics_order(ollama, model_id):
    lines = stream(ollama, "/v1/messages", {"model": model_id, "stream": True, "max_tokens": 2, "messages": []})
    events = [line.removeprefix(b"event: ").strip().decode() for line in lines if line.startswith(b"event: ")]
    assert events == ["message_start", "content_block_start", "content_block_delta", "content_block_delta",
                      "content_block_stop", "message_delta", "message_stop"]


def test_chat_completions_stream_ends_with_done(ollama, model_id):
    lines = stream(ollama, "/v1/chat/completions", {"model": model_id, "stream": True, "messages": []})
    assert [line for line in lines if line.strip()][-1] == b"data: [DONE]\n"


@pytest.mark.parametrize(
    ("value", "listen"),
    [("", ("127.0.0.1", 11434)), ("127.0.0.1:18434", ("127.0.0.1", 18434)),
     ("http://127.0.0.1:18434", ("127.0.0.1", 18434)), (":18434", ("", 18434)), ("0.0.0.0", ("0.0.0.0", 11434)),
     ("http://ollama.internal", ("ollama.internal", 80)), ("https://ollama.internal", ("ollama.internal", 443)),
     ("[::1]:18434", ("::1", 18434)), ("::1", ("::1", 11434)), ("127.0.0.1:99999", ("127.0.0.1", 11434))],
)
def test_ollama_host_is_read_like_ollama(value, listen):
    assert STANDIN.parse_ollama_host(value) == listen


def test_version_names_the_server_version(ollama):
    result = cli(ollama, "--version")
    assert (result.returncode, result.stdout) == (0, f"ollama version is {STANDIN.VERSION}\n")


def test_version_without_a_server_warns_and_succeeds(ollama):
    result = cli(ollama, "-v", OLLAMA_HOST=f"127.0.0.1:{free_port()}")
    warnings = f"Warning: could not connect to a running Ollama instance\nWarning: client version is {STANDIN.VERSION}\n"
    assert (result.returncode, result.stdout) == (0, warnings)


def test_list_prints_the_servers_models_as_a_table(ollama):
    lines = cli(ollama, "list").stdout.splitlines()
    assert lines[0].split() == ["NAME", "ID", "SIZE", "MODIFIED"]
    assert [line.split()[:2] for line in lines[1:]] == [[m["name"], m["digest"][:12]] for m in STANDIN.MODELS]


@pytest.mark.parametrize("command", [["list"], ["ps"], ["pull", "llama3.2"], ["rm", "llama3.2"]])
def test_a_command_without_a_server_fails(ollama, command):
    result = cli(ollama, *command, OLLAMA_HOST=f"127.0.0.1:{free_port()}")
    assert (result.returncode, result.stdout, result.stderr) == (
        1, "", "Error: could not connect to ollama server, run 'ollama serve' to start it\n")


@pytest.mark.parametrize(("command", "message"), [
    (["pull"], "accepts 1 arg(s), received 0"), (["pull", "a", "b"], "accepts 1 arg(s), received 2"),
    (["rm"], "requires at least 1 arg(s), only received 0"),
])
def test_argument_counts_are_cobras(ollama, command, message):
    result = cli(ollama, *command)
    assert (result.returncode, result.stderr) == (1, f"Error: {message}\n")


def test_unknown_command_is_a_usage_error(ollama):
    result = cli(ollama, "frobnicate", "llama3.2")
    assert result.returncode == 1
    assert result.stderr.startswith('Error: unknown command "frobnicate" for "ollama"')


def test_serve_on_a_busy_port_fails_like_go(ollama):
    result = cli(ollama, "serve")  # ollama.env() points at the running stand-in's port
    assert result.returncode == 1
    assert result.stderr == f"Error: listen tcp 127.0.0.1:{ollama.port}: bind: address already in use\n"


def test_serve_exits_cleanly_on_sigterm(tmp_path):
    with running_standin(tmp_path) as ollama:
        process = ollama.process
    assert process.returncode == 0


# --- Speaking like Ollama: the answers' shapes, per API ---------------------------------------------

NATURAL = STANDIN.WORDS[:5]  # the natural answer: OLLAMA_STANDIN_CHUNKS tokens, 5 by default
HI = [{"role": "user", "content": "hi"}]
WEATHER = {"type": "object", "required": ["unit", "city"], "properties": {
    "city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}, "days": {"type": "integer"}}}
ARGUMENTS = {"city": "", "unit": "celsius"}  # the required properties, in the schema's order
ASK_FOR_WEATHER = [{"role": "user", "content": "What is the weather in Paris? Use get_weather."}]
CALL_ID = r"call_[a-z0-9]{8}"
OPENAI_TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "w", "parameters": WEATHER}}]
RESPONSES_TOOLS = [{"type": "function", "name": "get_weather", "description": "w", "parameters": WEATHER}]
ANTHROPIC_TOOLS = [{"name": "get_weather", "description": "w", "input_schema": WEATHER}]
METRICS = ["total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count", "eval_duration"]


@pytest.fixture(scope="module")
def natural(tmp_path_factory):
    """A stand-in whose model stops by itself, as Ollama's do (the suite's own runs answers to their limit)."""
    with running_standin(tmp_path_factory.mktemp("natural"), OLLAMA_STANDIN_RUN_TO_LIMIT="") as standin:
        yield standin


def post(ollama, path: str, fields: dict | bytes) -> tuple[int, dict[str, str], bytes]:
    """(status, headers with lower-case names, body) of one POST."""
    connection = http.client.HTTPConnection("127.0.0.1", ollama.port, timeout=10)
    try:
        connection.request("POST", path, fields if isinstance(fields, bytes) else json.dumps(fields))
        response = connection.getresponse()
        return response.status, {name.lower(): value for name, value in response.getheaders()}, response.read()
    finally:
        connection.close()


def post_json(ollama, path: str, fields: dict) -> dict:
    status, _, body = post(ollama, path, fields)
    assert status == 200, body
    return json.loads(body)


def ordered_keys(body: bytes) -> list[str]:
    """The top-level keys of a JSON object, in the order they were written."""
    return [key for key, _ in json.loads(body, object_pairs_hook=lambda pairs: pairs)]


def events(lines: list[bytes]) -> list[tuple[str | None, object]]:
    """(``event:`` name or None, data) of each server-sent event; data is JSON, or the bare string."""
    parsed, name = [], None
    for line in (line.decode().rstrip("\n") for line in lines):
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            payload = line.removeprefix("data: ")
            parsed.append((name, json.loads(payload) if payload.startswith("{") else payload))
            name = None
    return parsed


def ndjson_lines(lines: list[bytes]) -> list[dict]:
    return [json.loads(line) for line in lines]


# Each generation API: its path, a request of it without a limit, the limit's field, and what its
# non-streamed answer says (text, why it ended). Ollama's /v1/responses says "completed" either way.
APIS = {
    "/api/generate": ({"prompt": "hi", "stream": False}, lambda limit: {"options": {"num_predict": limit}},
                      lambda answer: (answer["response"], answer["done_reason"]), ("stop", "length")),
    "/api/chat": ({"messages": HI, "stream": False}, lambda limit: {"options": {"num_predict": limit}},
                  lambda answer: (answer["message"]["content"], answer["done_reason"]), ("stop", "length")),
    "/v1/chat/completions": ({"messages": HI}, lambda limit: {"max_tokens": limit},
                             lambda answer: (answer["choices"][0]["message"]["content"],
                                             answer["choices"][0]["finish_reason"]), ("stop", "length")),
    "/v1/completions": ({"prompt": "hi"}, lambda limit: {"max_tokens": limit},
                        lambda answer: (answer["choices"][0]["text"], answer["choices"][0]["finish_reason"]),
                        ("stop", "length")),
    "/v1/messages": ({"messages": HI}, lambda limit: {"max_tokens": limit},
                     lambda answer: (answer["content"][0]["text"], answer["stop_reason"]), ("end_turn", "max_tokens")),
    "/v1/responses": ({"input": "hi"}, lambda limit: {"max_output_tokens": limit},
                      lambda answer: (answer["output"][0]["content"][0]["text"], answer["status"]),
                      ("completed", "completed")),
}


def generated(ollama, path: str, limit: int | None, model: str) -> tuple[str, str]:
    fields, limit_field, read, _ = APIS[path]
    return read(post_json(ollama, path, {"model": model, **fields, **(limit_field(limit) if limit else {})}))


@pytest.mark.parametrize("limit", [None, 6, 32000], ids=["no limit", "just above", "Claude Code's 32000"])
@pytest.mark.parametrize("path", list(APIS))
def test_an_answer_ends_by_itself(natural, model_id, path, limit):
    assert generated(natural, path, limit, model_id) == ("".join(NATURAL), APIS[path][3][0])


@pytest.mark.parametrize("limit", [3, 5], ids=["below", "at"])  # llama.cpp stops at the limit before the end
@pytest.mark.parametrize("path", list(APIS))
def test_a_limit_at_or_below_the_natural_answer_cuts_it(natural, model_id, path, limit):
    assert generated(natural, path, limit, model_id) == ("".join(NATURAL[:limit]), APIS[path][3][1])


def test_a_natural_stream_stops_by_itself(natural, model_id):
    lines = stream(natural, "/v1/messages", {"model": model_id, "stream": True, "max_tokens": 32000, "messages": HI})
    said = [data["delta"]["text"] for name, data in events(lines) if name == "content_block_delta"]
    [stop] = [data["delta"]["stop_reason"] for name, data in events(lines) if name == "message_delta"]
    assert (said, stop) == (list(NATURAL), "end_turn")


def test_run_to_limit_streams_as_long_as_a_test_asks(ollama, model_id):
    lines = stream(ollama, "/v1/chat/completions", {"model": model_id, "stream": True, "max_tokens": 12, "messages": HI})
    chunks = [data for _, data in events(lines) if isinstance(data, dict)]
    said = [chunk["choices"][0]["delta"]["content"] for chunk in chunks[:-1]]
    assert (said, chunks[-1]["choices"][0]["finish_reason"]) == (list(itertools.islice(itertools.cycle(STANDIN.WORDS), 12)), "length")


def test_chat_completions_stream_names_the_role_once_then_finishes_with_an_empty_delta(ollama, model_id):
    lines = stream(ollama, "/v1/chat/completions", {"model": model_id, "stream": True, "max_tokens": 2, "messages": HI,
                                                    "stream_options": {"include_usage": True}})
    chunks = [data for _, data in events(lines)]
    assert [chunk["choices"] if isinstance(chunk, dict) else chunk for chunk in chunks] == [
        [{"index": 0, "delta": {"role": "assistant", "content": "The"}, "finish_reason": None}],
        [{"index": 0, "delta": {"content": " sky"}, "finish_reason": None}],
        [{"index": 0, "delta": {}, "finish_reason": "length"}], [], "[DONE]"]
    assert chunks[3]["usage"] == {"prompt_tokens": 26, "completion_tokens": 2, "total_tokens": 28}


def test_completions_stream_is_ollamas_complete_writer(ollama, model_id):
    lines = stream(ollama, "/v1/completions", {"model": model_id, "stream": True, "prompt": "hi", "max_tokens": 2,
                                               "stream_options": {"include_usage": True}})
    chunks = [data for _, data in events(lines)]
    assert [list(chunk)[:5] for chunk in chunks[:-1]] == [["id", "object", "created", "choices", "model"]] * 4
    assert [chunk["choices"] for chunk in chunks[:-1]] == [
        [{"text": "The", "index": 0, "finish_reason": None}], [{"text": " sky", "index": 0, "finish_reason": None}],
        [{"text": "", "index": 0, "finish_reason": "length"}], []]
    assert (chunks[0]["usage"]["total_tokens"], chunks[3]["usage"]["total_tokens"], chunks[-1]) == (0, 28, "[DONE]")


# --- /v1/responses ---------------------------------------------------------------------------------

RESPONSE_FIELDS = [  # ResponsesResponse's declaration order, which the non-streamed answer keeps
    "id", "object", "created_at", "completed_at", "status", "incomplete_details", "model", "previous_response_id",
    "instructions", "output", "error", "tools", "tool_choice", "truncation", "parallel_tool_calls", "text", "top_p",
    "presence_penalty", "frequency_penalty", "top_logprobs", "temperature", "reasoning", "usage", "max_output_tokens",
    "max_tool_calls", "store", "background", "service_tier", "metadata", "safety_identifier", "prompt_cache_key"]


def responses_stream(ollama, fields: dict) -> list[tuple[str | None, object]]:
    return events(stream(ollama, "/v1/responses", {"stream": True, **fields}))


def test_responses_stream_is_ollamas_whole_event_sequence(ollama, model_id):
    seen = responses_stream(ollama, {"model": model_id, "input": "hi", "max_output_tokens": 3})
    assert [name for name, _ in seen] == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"]
    assert [(data["type"], data["sequence_number"]) for _, data in seen] == [
        (name, number) for number, (name, _) in enumerate(seen)]  # every event named, no [DONE] after the last


def test_responses_stream_data_are_go_maps_with_sorted_keys(ollama, model_id):
    def key_lists(value: object) -> list[list[str]]:
        if isinstance(value, list) and value and isinstance(value[0], tuple):  # an object, as pairs
            return [[key for key, _ in value], *(keys for _, item in value for keys in key_lists(item))]
        return [keys for item in value for keys in key_lists(item)] if isinstance(value, list) else []

    lines = stream(ollama, "/v1/responses", {"model": model_id, "stream": True, "input": "hi", "tools": RESPONSES_TOOLS})
    objects = [json.loads(line.removeprefix(b"data: "), object_pairs_hook=list) for line in lines
               if line.startswith(b"data: ")]
    assert [keys for keys in key_lists(objects) if keys != sorted(keys)] == []
    assert len(objects) == 8 + len(NATURAL)


def test_responses_stream_carries_one_response_from_created_to_completed(ollama, model_id):
    seen = [data for _, data in responses_stream(ollama, {"model": model_id, "input": "hi", "max_output_tokens": 3})]
    created, completed, item = seen[0]["response"], seen[-1]["response"], seen[2]["item"]
    deltas = "".join(data["delta"] for data in seen if data["type"] == "response.output_text.delta")
    assert re.fullmatch(r"resp_\d+", created["id"]) and re.fullmatch(r"msg_\d+", item["id"])
    assert (created["status"], created["output"], created["usage"], created["completed_at"]) == (
        "in_progress", [], None, None)
    assert (completed["id"], completed["status"], completed["model"], completed["max_output_tokens"]) == (
        created["id"], "completed", model_id, 3)
    assert completed["output"] == [{"content": [{"annotations": [], "logprobs": [], "text": deltas, "type": "output_text"}],
                                    "id": item["id"], "role": "assistant", "status": "completed", "type": "message"}]
    assert (deltas, completed["usage"]) == ("The sky is", {
        "input_tokens": 26, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 3,
        "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 29})
    assert isinstance(completed["completed_at"], int)


def test_responses_answer_is_in_ollamas_struct_order(ollama, model_id):
    status, headers, body = post(ollama, "/v1/responses", {"model": "llama3.2", "input": "hi", "instructions": "Be brief.",
                                                            "temperature": 0.5, "max_output_tokens": 2})
    answer = json.loads(body)
    assert (status, headers["content-type"], body[-1:], ordered_keys(body)) == (200, "application/json", b"\n",
                                                                                 RESPONSE_FIELDS)
    assert (answer["model"], answer["instructions"], answer["temperature"], answer["top_p"], answer["usage"]) == (
        "llama3.2", "Be brief.", 0.5, 1, {"input_tokens": 26, "output_tokens": 2, "total_tokens": 28,
                                          "input_tokens_details": {"cached_tokens": 0},
                                          "output_tokens_details": {"reasoning_tokens": 0}})
    assert list(answer["output"][0]) == ["id", "type", "status", "role", "content"]


def test_responses_echo_the_requests_text_format_and_reasoning(ollama, model_id):
    text_format = {"type": "json_schema", "name": "sky", "schema": {"type": "object"}, "strict": False}
    fields = {"model": model_id, "input": "hi", "text": {"format": text_format}, "reasoning": {"summary": "auto"}}
    answer = post_json(ollama, "/v1/responses", fields)
    [_, (_, created), *_] = responses_stream(ollama, fields)  # the stream's map writes the unset effort as null
    assert (answer["text"], answer["reasoning"]) == ({"format": text_format}, {"summary": "auto"})
    assert (created["response"]["text"], created["response"]["reasoning"]) == (
        {"format": text_format}, {"effort": None, "summary": "auto"})


def test_responses_stream_calls_a_named_tool(ollama, model_id):
    seen = responses_stream(ollama, {"model": model_id, "input": "Use get_weather for Paris.", "tools": RESPONSES_TOOLS})
    assert [name for name, _ in seen] == [
        "response.created", "response.in_progress", "response.output_item.added",
        "response.function_call_arguments.delta", "response.function_call_arguments.done", "response.output_item.done",
        "response.completed"]
    item = seen[5][1]["item"]
    assert (item["type"], item["name"], item["status"], json.loads(item["arguments"])) == (
        "function_call", "get_weather", "completed", ARGUMENTS)
    assert re.fullmatch(CALL_ID, item["call_id"]) and re.fullmatch(r"fc_\d+_0", item["id"])
    assert (seen[3][1]["delta"], seen[-1][1]["response"]["output"]) == (item["arguments"], [item])


def test_responses_answer_calls_a_named_tool(ollama, model_id):
    answer = post_json(ollama, "/v1/responses", {"model": model_id, "input": [{"role": "user", "content": [
        {"type": "input_text", "text": "get_weather, please"}]}], "tools": RESPONSES_TOOLS})
    [call] = answer["output"]
    assert (list(call), call["id"], json.loads(call["arguments"])) == (
        ["id", "type", "status", "call_id", "name", "arguments"], f"fc_{answer['id']}_0", ARGUMENTS)
    assert answer["tools"][0] == {"type": "function", "name": "get_weather", "description": "w", "strict": None,
                                  "parameters": WEATHER}


# --- Tool calls in each API's shape --------------------------------------------------------------------


def test_chat_completion_calls_a_named_tool(ollama, model_id):
    answer = post_json(ollama, "/v1/chat/completions", {"model": model_id, "messages": ASK_FOR_WEATHER,
                                                         "tools": OPENAI_TOOLS})
    [choice] = answer["choices"]
    [call] = choice["message"].pop("tool_calls")
    assert (choice["message"], choice["finish_reason"]) == ({"role": "assistant", "content": ""}, "tool_calls")
    assert re.fullmatch(CALL_ID, call.pop("id"))
    assert call == {"index": 0, "type": "function",
                    "function": {"name": "get_weather", "arguments": json.dumps(ARGUMENTS, separators=(",", ":"))}}


def test_chat_completions_stream_calls_a_named_tool(ollama, model_id):
    lines = stream(ollama, "/v1/chat/completions", {"model": model_id, "stream": True, "messages": ASK_FOR_WEATHER,
                                                    "tools": OPENAI_TOOLS})
    first, finish, done = [data for _, data in events(lines)]
    [call] = first["choices"][0]["delta"]["tool_calls"]
    assert (first["choices"][0]["delta"]["role"], call["function"]["name"], json.loads(call["function"]["arguments"])) == (
        "assistant", "get_weather", ARGUMENTS)
    assert (finish["choices"], done) == ([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}], "[DONE]")


def test_message_calls_a_named_tool(ollama, model_id):
    answer = post_json(ollama, "/v1/messages", {"model": model_id, "max_tokens": 100, "messages": ASK_FOR_WEATHER,
                                                "tools": ANTHROPIC_TOOLS})
    [block] = answer["content"]
    assert re.fullmatch(CALL_ID, block.pop("id"))
    assert (block, answer["stop_reason"]) == ({"type": "tool_use", "name": "get_weather", "input": ARGUMENTS}, "tool_use")


def test_messages_stream_calls_a_named_tool_with_an_input_json_delta(ollama, model_id):
    lines = stream(ollama, "/v1/messages", {"model": model_id, "stream": True, "max_tokens": 100,
                                            "messages": ASK_FOR_WEATHER, "tools": ANTHROPIC_TOOLS})
    seen = events(lines)
    assert [name for name, _ in seen] == ["message_start", "content_block_start", "content_block_delta",
                                          "content_block_stop", "message_delta", "message_stop"]
    start, delta, message_delta = seen[1][1]["content_block"], seen[2][1]["delta"], seen[4][1]["delta"]
    assert ((start["type"], start["name"], start["input"]), delta["type"], json.loads(delta["partial_json"])) == (
        ("tool_use", "get_weather", {}), "input_json_delta", ARGUMENTS)
    assert message_delta == {"stop_reason": "tool_use"}


def test_native_chat_calls_a_named_tool(ollama, model_id):
    answer = post_json(ollama, "/api/chat", {"model": model_id, "stream": False, "messages": ASK_FOR_WEATHER,
                                             "tools": OPENAI_TOOLS})
    [call] = answer["message"].pop("tool_calls")
    assert re.fullmatch(CALL_ID, call.pop("id"))
    assert (answer["message"], call, answer["done_reason"]) == (
        {"role": "assistant", "content": ""}, {"function": {"index": 0, "name": "get_weather", "arguments": ARGUMENTS}},
        "stop")


def test_native_chat_stream_calls_a_named_tool_in_one_chunk(ollama, model_id):
    call_chunk, final = ndjson_lines(stream(ollama, "/api/chat", {"model": model_id, "messages": ASK_FOR_WEATHER,
                                                                   "tools": OPENAI_TOOLS}))
    [call] = call_chunk["message"]["tool_calls"]
    assert (call["function"]["name"], call["function"]["arguments"], call_chunk["done"]) == ("get_weather", ARGUMENTS,
                                                                                            False)
    assert (final["message"], final["done"], final["done_reason"]) == ({"role": "assistant", "content": ""}, True, "stop")


@pytest.mark.parametrize(("path", "fields", "read"), [
    ("/api/chat", {"stream": False, "messages": HI, "tools": OPENAI_TOOLS}, lambda answer: answer["message"]),
    ("/api/chat", {"stream": False, "tools": OPENAI_TOOLS, "messages": [
        *ASK_FOR_WEATHER, {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_weather"}}]},
        {"role": "tool", "content": "get_weather: sunny"}]}, lambda answer: answer["message"]),
    ("/v1/chat/completions", {"tools": OPENAI_TOOLS, "messages": [
        *ASK_FOR_WEATHER, {"role": "tool", "content": "get_weather: sunny"}]},
     lambda answer: answer["choices"][0]["message"]),
    ("/v1/messages", {"max_tokens": 100, "tools": ANTHROPIC_TOOLS, "messages": [*ASK_FOR_WEATHER, {
        "role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "get_weather: sunny"}]}]},
     lambda answer: answer["content"][0]),
    ("/v1/responses", {"tools": RESPONSES_TOOLS, "input": [*ASK_FOR_WEATHER, {
        "type": "function_call_output", "call_id": "call_1", "output": "sunny"}]}, lambda answer: answer["output"][0]),
    ("/v1/chat/completions", {"messages": ASK_FOR_WEATHER, "tools": [{"type": "function", "function": {"name": "get"}}]},
     lambda answer: answer["choices"][0]["message"]),
], ids=["no tool named", "after the tool's result", "OpenAI, after the result", "Anthropic, after the result",
        "Responses, after the result", "a name inside a word"])
def test_without_a_named_tool_the_model_answers_in_text(ollama, model_id, path, fields, read):
    said = read(post_json(ollama, path, {"model": model_id, **fields}))
    assert "tool_calls" not in said and said.get("type") in (None, "text", "message"), said


# --- Native /api/generate and /api/chat (api/types.go) -----------------------------------------------


def test_native_stream_is_the_default_in_api_types_order(ollama, model_id):
    for path, fields, content in (("/api/generate", {"prompt": "hi"}, "response"), ("/api/chat", {"messages": HI}, "message")):
        status, headers, body = post(ollama, path, {"model": model_id, "options": {"num_predict": 2}, **fields})
        chunks = [json.loads(line, object_pairs_hook=lambda pairs: pairs) for line in body.splitlines()]
        context = ["context"] if path == "/api/generate" else []
        assert (status, headers["content-type"], len(chunks)) == (200, "application/x-ndjson", 3)
        assert [key for key, _ in chunks[0]] == ["model", "created_at", content, "done", "standin_sent_ns"]
        assert [key for key, _ in chunks[-1]] == ["model", "created_at", content, "done", "done_reason", *context,
                                                  *METRICS, "standin_sent_ns"]


def test_native_answer_to_the_python_clients_body(ollama, model_id):
    status, headers, body = post(ollama, "/api/chat", {"model": "llama3.2", "stream": False, "messages": HI, "tools": []})
    answer = json.loads(body)
    assert (status, headers["content-type"], ordered_keys(body)) == (200, "application/json; charset=utf-8", [
        "model", "created_at", "message", "done", "done_reason", *METRICS])
    assert (answer["model"], answer["message"], answer["done"], answer["eval_count"]) == (
        "llama3.2", {"role": "assistant", "content": "".join(NATURAL)}, True, len(NATURAL))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z", answer["created_at"])


@pytest.mark.parametrize(("keep_alive", "reason"), [(0, "unload"), ("0s", "unload"), ("5m", "load"), (None, "load")])
def test_generate_without_a_prompt_loads_or_unloads(ollama, model_id, keep_alive, reason):
    fields = {"model": model_id, "prompt": "", **({} if keep_alive is None else {"keep_alive": keep_alive})}
    status, _, body = post(ollama, "/api/generate", fields)
    answer = json.loads(body)
    assert (status, ordered_keys(body), answer["response"], answer["done"], answer["done_reason"]) == (
        200, ["model", "created_at", "response", "done", "done_reason"], "", True, reason)


def test_chat_without_messages_unloads_with_keep_alive_0(ollama, model_id):
    answer = post_json(ollama, "/api/chat", {"model": model_id, "messages": [], "keep_alive": 0})
    assert (answer["message"], answer["done_reason"]) == ({"role": "assistant", "content": ""}, "unload")


# --- Embeddings ---------------------------------------------------------------------------------------


def norm(vector: list[float]) -> float:
    return sum(value * value for value in vector) ** 0.5


def test_embed_gives_one_normalised_vector_per_input(ollama, model_id):
    status, _, body = post(ollama, "/api/embed", {"model": "llama3.2", "input": ["sky", "sea", "sky"]})
    answer = json.loads(body)
    vectors = answer["embeddings"]
    assert (status, ordered_keys(body), answer["model"], answer["prompt_eval_count"]) == (
        200, ["model", "embeddings", "total_duration", "load_duration", "prompt_eval_count"], "llama3.2", 3)
    assert ([len(vector) for vector in vectors], vectors[0] == vectors[2], vectors[0] == vectors[1]) == ([8] * 3, True, False)
    assert all(abs(norm(vector) - 1) < 1e-6 for vector in vectors)
    assert post_json(ollama, "/api/embed", {"model": model_id, "input": "sky"})["embeddings"] == vectors[:1]


@pytest.mark.parametrize(("fields", "status", "answer"), [
    ({"input": ""}, 200, {"model": "llama3.2", "embeddings": []}),
    ({"input": ["sky", 1]}, 400, {"error": "invalid input type"}),
    ({"model": "nope", "input": "sky"}, 404, {"error": 'model "nope" not found, try pulling it first'}),
])
def test_embed_refuses_what_ollama_refuses(ollama, fields, status, answer):
    got_status, _, body = post(ollama, "/api/embed", {"model": "llama3.2", **fields})
    assert (got_status, json.loads(body)) == (status, answer)


def test_embed_cuts_to_the_dimensions_asked_and_normalises_again(ollama, model_id):
    [vector] = post_json(ollama, "/api/embed", {"model": model_id, "input": "sky", "dimensions": 3})["embeddings"]
    assert (len(vector), round(norm(vector), 6)) == (3, 1.0)


def test_legacy_embeddings_give_the_raw_vector_of_the_prompt(ollama, model_id):
    answer = post_json(ollama, "/api/embeddings", {"model": model_id, "prompt": "sky"})
    [normalised] = post_json(ollama, "/api/embed", {"model": model_id, "input": "sky"})["embeddings"]
    raw = answer["embedding"]
    assert (list(answer), len(raw), abs(norm(raw) - 1) > 1e-3) == (["embedding"], 8, True)
    assert all(abs(value / norm(raw) - expected) < 1e-6 for value, expected in zip(raw, normalised, strict=True))
    assert post_json(ollama, "/api/embeddings", {"model": model_id, "prompt": ""}) == {"embedding": []}


def float32s(vector: list[float]) -> list[float]:
    return list(struct.unpack(f"<{len(vector)}f", struct.pack(f"<{len(vector)}f", *vector)))


def test_openai_embeddings_are_a_list_as_floats_or_base64(ollama, model_id):
    status, headers, body = post(ollama, "/v1/embeddings", {"model": "llama3.2", "input": ["sky", "sea"]})
    floats = json.loads(body)
    coded = post_json(ollama, "/v1/embeddings", {"model": "llama3.2", "input": ["sky", "sea"], "encoding_format": "base64"})
    assert (status, headers["content-type"], body[-1:], ordered_keys(body)) == (
        200, "application/json", b"\n", ["object", "data", "model", "usage"])
    assert (floats["object"], floats["model"], floats["usage"], [list(item) for item in floats["data"]]) == (
        "list", "llama3.2", {"prompt_tokens": 2, "total_tokens": 2}, [["object", "embedding", "index"]] * 2)
    assert [item["index"] for item in coded["data"]] == [0, 1]
    decoded = [list(struct.unpack("<8f", base64.b64decode(item["embedding"]))) for item in coded["data"]]
    assert decoded == [float32s(item["embedding"]) for item in floats["data"]]
    assert floats["data"][0]["embedding"] == post_json(ollama, "/api/embed", {"model": model_id, "input": "sky"})["embeddings"][0]


@pytest.mark.parametrize(("fields", "status", "message"), [
    ({"input": "sky", "encoding_format": "binary"}, 400,
     "Invalid value for 'encoding_format' = binary. Supported values: ['float', 'base64']."),
    ({"input": []}, 400, "invalid input"),
    ({"model": "nope", "input": "sky"}, 404, 'model "nope" not found, try pulling it first'),
])
def test_openai_embeddings_refuse_what_ollama_refuses(ollama, fields, status, message):
    got_status, _, body = post(ollama, "/v1/embeddings", {"model": "llama3.2", **fields})
    kind = "invalid_request_error" if status == 400 else "not_found_error"
    assert (got_status, json.loads(body)) == (status, {"error": {"message": message, "type": kind, "param": None,
                                                                 "code": None}})


# --- /api/show and errors in each API's shape -------------------------------------------------------


def go_show_request(model: str = "", name: str = "") -> dict:
    """api.ShowRequest as the Go client writes it: every field, none omitted."""
    return {"model": model, "system": "", "template": "", "verbose": False, "options": None, "name": name}


@pytest.mark.parametrize("fields", [go_show_request(model="llama3.2"), go_show_request(name="llama3.2")],
                         ids=["model", "name"])
def test_show_reads_the_go_clients_body(ollama, fields):
    assert post_json(ollama, "/api/show", fields)["details"]["family"] == "llama"


@pytest.mark.parametrize(("fields", "status", "answer"), [
    (go_show_request(), 400, {"error": "model is required"}),
    (go_show_request(model="nope"), 404, {"error": "model 'nope:latest' not found"}),
])
def test_show_refuses_like_ollama(ollama, fields, status, answer):
    got_status, _, body = post(ollama, "/api/show", fields)
    assert (got_status, json.loads(body)) == (status, answer)


@pytest.mark.parametrize("path", ["/api/generate", "/api/chat"])
def test_unknown_model_on_an_ollama_route(ollama, path):
    status, headers, body = post(ollama, path, {"model": "nope", "prompt": "hi", "messages": HI})
    assert (status, headers["content-type"], body) == (404, "application/json; charset=utf-8",
                                                       b'{"error":"model \'nope\' not found"}')


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions", "/v1/responses"])
def test_unknown_model_on_an_openai_route(ollama, path):
    status, headers, body = post(ollama, path, {"model": "nope", "prompt": "hi", "messages": HI, "input": "hi"})
    assert (status, headers["content-type"], json.loads(body)) == (404, "application/json", {"error": {
        "message": "model 'nope' not found", "type": "not_found_error", "param": None, "code": None}})


def test_unknown_model_on_the_models_route(ollama):
    response = ask(ollama, "GET", "/v1/models/nope")
    assert (response.status, response.json()["error"]["type"], response.json()["error"]["message"]) == (
        404, "not_found_error", "model 'nope:latest' not found")


def test_unknown_model_on_the_anthropic_route(ollama):
    status, _, body = post(ollama, "/v1/messages", {"model": "nope", "max_tokens": 10, "messages": HI})
    answer = json.loads(body)
    assert re.fullmatch(r"req_[0-9a-f]{24}", answer.pop("request_id"))
    assert (status, answer) == (404, {"type": "error", "error": {"type": "not_found_error",
                                                                  "message": "model 'nope' not found"}})


@pytest.mark.parametrize(("path", "error_type"), [("/v1/messages", "invalid_request_error"),
                                                  ("/v1/chat/completions", "invalid_request_error")])
def test_a_body_that_is_not_json_is_refused_in_the_apis_shape(ollama, path, error_type):
    status, _, body = post(ollama, path, b"model=llama3.2")
    error = json.loads(body)["error"]
    assert (status, error["type"], "message" in error) == (400, error_type, True)


# --- The model store, pulls from the registry, loaded models ------------------------------------------

LLAMA, NOMIC = catalogue.named("llama3.2:latest"), catalogue.named("nomic-embed-text:latest")
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
PULL_SECONDS = "1"


def manifest_digest(model) -> str:
    return hashlib.sha256(model.manifest()).hexdigest()


def get_json(ollama, path: str) -> dict:
    response = ask(ollama, "GET", path)
    assert response.status == 200, response.body
    return response.json()


def pull_lines(ollama, fields: dict) -> tuple[int, list[dict]]:
    """The status of a streamed pull and its NDJSON lines."""
    connection = http.client.HTTPConnection("127.0.0.1", ollama.port, timeout=60)
    try:
        connection.request("POST", "/api/pull", json.dumps(fields))
        response = connection.getresponse()
        return response.status, [json.loads(line) for line in response]
    finally:
        connection.close()


def blobs(standin) -> str:
    return str(standin.home / ".ollama" / "models" / "blobs")


def last_frame(stderr: str) -> list[str]:
    """The lines of the progress display's last frame, without its ANSI codes."""
    return ESCAPES.sub("", stderr.split("\x1b[?2026h")[-1]).split("\n")


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    with running_registry(tmp_path_factory.mktemp("registry")) as running:
        yield running


@pytest.fixture
def empty(registry, tmp_path):
    """A stand-in with an empty store, pulling from the registry stand-in in a second."""
    with running_standin(tmp_path, seeded=(), OLLAMA_STANDIN_PULL_SECONDS=PULL_SECONDS, **registry.env()) as standin:
        yield standin


@pytest.fixture
def seeded(registry, tmp_path):
    """A stand-in of its own with the default models, pulling from the registry stand-in."""
    with running_standin(tmp_path, OLLAMA_STANDIN_PULL_SECONDS=PULL_SECONDS, **registry.env()) as standin:
        yield standin


def test_the_default_models_are_catalogue_models_in_ollamas_layout(ollama):
    for model in STANDIN.MODELS:
        entry = catalogue.named(model["name"])
        name, tag = model["name"].split(":")
        manifest = ollama.home / ".ollama/models/manifests/registry.ollama.ai/library" / name / tag
        assert manifest.read_bytes() == entry.manifest()
        assert (model["digest"], model["size"], model["parameter_size"]) == (
            manifest_digest(entry), entry.size, entry.parameter_size)


def test_tags_show_list_and_openai_models_agree_with_the_store(ollama):
    listed = get_json(ollama, "/api/tags")["models"]
    assert [(m["name"], m["digest"], m["size"]) for m in listed] == [
        (m["name"], m["digest"], m["size"]) for m in STANDIN.MODELS]  # newest first
    for model in listed:
        shown = post_json(ollama, "/api/show", {"model": model["name"]})
        assert shown["details"] == model["details"] and shown["modified_at"] == model["modified_at"]
    table = cli(ollama, "list").stdout.splitlines()
    assert [line.split()[:4] for line in table[1:]] == [
        [m["name"], m["digest"][:12], *human_bytes(m["size"]).split()] for m in listed]
    assert [m["id"] for m in get_json(ollama, "/v1/models")["data"]] == [m["name"] for m in listed]


def test_tables_are_tablewriters(ollama):
    header, *rows = cli(ollama, "list").stdout.splitlines()
    modified = [re.split(r" {4,}", row.strip())[-1] for row in rows]
    width = max(map(len, [*modified, "MODIFIED"]))
    assert header.endswith("    MODIFIED".ljust(width + 4) + " ")  # the header's last cell: one space after
    assert all(row.endswith(value.ljust(width) + "    ") for row, value in zip(rows, modified, strict=True))


def test_the_store_folder_is_made_when_the_server_starts(registry, tmp_path):
    models = tmp_path / "elsewhere" / "models"
    with running_standin(tmp_path / "ollama", seeded=(), OLLAMA_MODELS=f'"{models}" ') as standin:
        assert sorted(os.listdir(models)) == ["blobs"]  # manifests/ is pruned away while empty
        assert get_json(standin, "/api/tags") == {"models": []}


def test_a_pull_streams_ollamas_progress_and_stores_the_model(empty, registry):
    started = time.monotonic()
    status, lines = pull_lines(empty, {"model": "nomic-embed-text"})
    took = time.monotonic() - started
    assert status == 200 and 1 <= took < 10, took
    statuses = [line["status"] for line in lines]
    layers = [*NOMIC.layers, NOMIC.config]
    assert [status for status, _ in itertools.groupby(statuses)] == [
        "pulling manifest", *(f"pulling {layer.digest[7:19]}" for layer in layers),
        "verifying sha256 digest", "writing manifest", "success"]
    for layer in layers:
        events = [line for line in lines if line.get("digest") == layer.digest]
        assert {event["total"] for event in events} == {layer.size}
        done = [event.get("completed", 0) for event in events]
        assert done == sorted(done) and done[-1] == layer.size
        assert all(event.get("completed", 1) > 0 for event in events)  # omitempty: never "completed": 0
    assert len([line for line in lines if line.get("digest") == NOMIC.layers[0].digest]) > 5  # every 60 ms
    [listed] = get_json(empty, "/api/tags")["models"]
    assert (listed["name"], listed["digest"], listed["size"]) == (
        "nomic-embed-text:latest", manifest_digest(NOMIC), NOMIC.size)
    assert listed["details"]["family"] == "nomic-bert"


def test_a_pulled_blob_has_its_real_size_but_not_its_bytes(empty):
    assert pull_lines(empty, {"model": "nomic-embed-text"})[1][-1] == {"status": "success"}
    model_blob = os.stat(os.path.join(blobs(empty), NOMIC.layers[0].digest.replace(":", "-")))
    assert model_blob.st_size == NOMIC.layers[0].size and model_blob.st_blocks * 512 < 10**6
    assert sorted(os.listdir(blobs(empty))) == sorted(layer.digest.replace(":", "-")
                                                      for layer in (*NOMIC.layers, NOMIC.config))


def test_pulling_a_present_model_asks_for_the_manifest_and_reports_each_blob_done(seeded, registry):
    before = len(registry.requests())
    status, lines = pull_lines(seeded, {"model": "llama3.2"})
    assert status == 200 and lines[0] == {"status": "pulling manifest"} and lines[-1] == {"status": "success"}
    assert [line for line in lines if "digest" in line] == [
        {"status": f"pulling {layer.digest[7:19]}", "digest": layer.digest, "total": layer.size, "completed": layer.size}
        for layer in (*LLAMA.layers, LLAMA.config)]
    assert registry.requests()[before:] == ["GET /v2/library/llama3.2/manifests/latest"]


def test_the_registry_is_asked_as_ollama_asks(empty, registry):
    before = len(registry.requests())
    pull_lines(empty, {"model": "nomic-embed-text"})
    asked = registry.requests()[before:]
    model_blob = f"/v2/library/nomic-embed-text/blobs/{NOMIC.layers[0].digest}"
    assert asked[:3] == ["GET /v2/library/nomic-embed-text/manifests/latest", f"HEAD {model_blob}",
                         f"GET {model_blob}"]  # the size, then the direct URL, then a GET per part (3 here)
    assert asked.count(f"GET {model_blob}") == 1 + 3
    ua = registry.log.read_text().split("ua=")[-1].strip()
    assert ua == f"ollama/{STANDIN.VERSION} (arm64 darwin) Go/go1.26.0"


@pytest.mark.parametrize("name", ["nope", "llama3.2:nope", "someone/llama3.2"])
def test_an_unknown_model_fails_inside_the_stream(empty, name):
    assert pull_lines(empty, {"model": name}) == (200, [
        {"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"}])


def test_without_streaming_a_pull_answers_once(empty):
    assert post(empty, "/api/pull", {"model": "llama3.2:nope", "stream": False})[::2] == (
        500, b'{"error":"pull model manifest: file does not exist"}')
    status, headers, body = post(empty, "/api/pull", {"model": "nomic-embed-text", "stream": False})
    assert (status, headers["content-type"], body) == (200, "application/json; charset=utf-8", b'{"status":"success"}')


@pytest.mark.parametrize(("fields", "answer"), [
    (b"", {"error": "missing request body"}), ({"model": ""}, {"error": "invalid model name"}),
    ({"model": "a:b:c"}, {"error": "invalid model name"}), ({"name": "bad name"}, {"error": "invalid model name"}),
])
def test_a_pull_refuses_what_ollama_refuses(empty, fields, answer):
    status, _, body = post(empty, "/api/pull", fields)
    assert (status, json.loads(body)) == (400, answer)


def test_the_cli_pull_prints_ollamas_lines_on_stderr(empty):
    result = cli(empty, "pull", "llama3.2")
    bars = [f"pulling {layer.digest[7:19]}: 100% ▕{'█' * 18}▏ {human_bytes(layer.size):>6}{' ' * 25}"
            for layer in (*LLAMA.layers, LLAMA.config)]
    assert (result.returncode, result.stdout) == (0, "")
    assert last_frame(result.stderr) == ["pulling manifest ", *bars, "verifying sha256 digest ", "writing manifest ",
                                         "success ", ""]
    assert "\r" not in result.stderr and result.stderr.count("\x1b[?2026h") > 1  # redrawn every 100 ms


def test_the_cli_pull_of_an_unknown_model(empty):
    result = cli(empty, "pull", "nope")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.endswith("pulling manifest \x1b[K\x1b[?25h\x1b[?2026l\n"
                                  "Error: pull model manifest: file does not exist\n")
    asked = [(seen["method"], seen["path"]) for seen in empty.record.requests()]
    assert asked[-3:] == [("HEAD", "/"), ("POST", "/api/pull"), ("POST", "/api/show")]  # is nope:cloud there?


def test_an_unreachable_registry_fails_the_pull_with_gos_words(tmp_path):
    with running_standin(tmp_path, seeded=()) as standin:
        result = cli(standin, "pull", "llama3.2")
    assert result.stderr.splitlines()[-1] == (
        'Error: pull model manifest: Get "https://registry.ollama.ai/v2/library/llama3.2/manifests/latest": '
        f"dial tcp {NO_REGISTRY}: connect: connection refused")


def test_a_registry_certificate_the_host_does_not_trust_fails_the_pull(registry, tmp_path):
    with running_standin(tmp_path, seeded=(), OLLAMA_STANDIN_REGISTRY=registry.env()["OLLAMA_STANDIN_REGISTRY"]) as standin:
        assert pull_lines(standin, {"model": "llama3.2"})[1][-1] == {"error": (
            'pull model manifest: Get "https://registry.ollama.ai/v2/library/llama3.2/manifests/latest": '
            "tls: failed to verify certificate: x509: certificate signed by unknown authority")}


def test_a_pull_cut_short_keeps_its_parts_and_the_next_one_resumes(empty, registry):
    model_layer = LLAMA.layers[0]
    connection = http.client.HTTPConnection("127.0.0.1", empty.port, timeout=60)
    connection.request("POST", "/api/pull", json.dumps({"model": "llama3.2"}))
    for line in connection.getresponse():
        if json.loads(line).get("completed", 0) > model_layer.size // 3 and model_layer.digest in line.decode():
            break
    connection.close()  # the client hangs up: Ollama stops the download and keeps what it has
    partial = os.path.join(blobs(empty), model_layer.digest.replace(":", "-") + "-partial")
    kept: list[list[dict]] = []

    def parts_at_rest() -> bool:
        """The part files once two readings agree: Ollama rewrites one in place (truncate, then write) until
        it has stopped, so a reading can catch one empty."""
        texts = [open(path).read() for path in sorted(glob.glob(partial + "-*"))]
        kept.append([json.loads(text) for text in texts] if all(texts) else [])
        at_rest = len(kept) > 1 and kept[-1] == kept[-2]
        return at_rest and sum(part["Completed"] for part in kept[-1]) > model_layer.size // 3

    wait_until(parts_at_rest, "the parts are saved")
    parts = kept[-1]
    saved = sum(part["Completed"] for part in parts)
    assert len(parts) == 16 and os.stat(partial).st_size == model_layer.size
    assert list(parts[0]) == ["N", "Offset", "Size", "Completed"]
    before = len(registry.requests())
    _, lines = pull_lines(empty, {"model": "llama3.2"})
    resumed = [line for line in lines if line.get("digest") == model_layer.digest]
    assert resumed[0].get("completed", 0) >= saved and lines[-1] == {"status": "success"}
    assert f"HEAD /v2/library/llama3.2/blobs/{model_layer.digest}" not in registry.requests()[before:]
    assert not glob.glob(partial + "*") and os.stat(partial[:-len("-partial")]).st_size == model_layer.size


def test_a_stale_partial_is_pruned_at_start_and_a_fresh_one_kept(tmp_path):
    folder = tmp_path / ".ollama" / "models" / "blobs"
    folder.mkdir(parents=True)
    stale, fresh = folder / ("sha256-" + "a" * 64 + "-partial"), folder / ("sha256-" + "b" * 64 + "-partial-0")
    for path in (stale, fresh):
        path.write_text("{}")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    with running_standin(tmp_path, seeded=()):
        assert sorted(os.listdir(folder)) == [fresh.name]


def test_a_generation_loads_its_model_until_its_keep_alive_ends(seeded):
    post_json(seeded, "/api/generate", {"model": "llama3.2", "prompt": "hi", "stream": False, "keep_alive": 1})
    post_json(seeded, "/api/chat", {"model": "qwen2.5-coder:32b", "messages": HI, "stream": False, "keep_alive": -1})
    loaded = get_json(seeded, "/api/ps")["models"]
    assert [(m["name"], m["digest"], m["size"], m["size_vram"]) for m in loaded] == [
        (m["name"], m["digest"], m["size"], m["size"]) for m in STANDIN.MODELS]  # the longest left first
    assert list(loaded[0]) == ["name", "model", "size", "digest", "details", "expires_at", "size_vram", "context_length"]
    table = cli(seeded, "ps").stdout.splitlines()
    assert table[0].split() == ["NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL"]
    assert re.search(r"100% GPU +4096 +Forever +$", table[1])
    assert re.search(r"100% GPU +4096 +(Less than a second|1 second) from now", table[2])
    wait_until(lambda: len(get_json(seeded, "/api/ps")["models"]) == 1, "llama3.2's keep_alive of 1 s ends")


def test_keep_alive_is_read_as_ollama_reads_it(seeded):
    status, _, body = post(seeded, "/api/generate", {"model": "llama3.2", "prompt": "hi", "keep_alive": "5 minutes"})
    assert (status, json.loads(body)) == (400, {"error": 'time: unknown unit " minutes" in duration "5 minutes"'})
    post_json(seeded, "/api/generate", {"model": "llama3.2", "prompt": "hi", "stream": False, "keep_alive": "0s"})
    assert get_json(seeded, "/api/ps") == {"models": []}  # keep_alive 0: unloaded as soon as it is done


def test_rm_unloads_then_deletes_and_keeps_shared_blobs(seeded):
    assert pull_lines(seeded, {"model": "llama3.1:8b"})[1][-1] == {"status": "success"}
    post_json(seeded, "/api/generate", {"model": "llama3.2", "prompt": "hi", "stream": False})
    mark = len(seeded.record.requests())
    result = cli(seeded, "rm", "llama3.2")
    assert (result.returncode, result.stdout, ESCAPES.sub("", result.stderr)) == (0, "deleted 'llama3.2'\n", "")
    asked = [(seen["method"], seen["path"]) for seen in seeded.record.requests()[mark:]]
    assert asked == [("HEAD", "/"), ("POST", "/api/show"), ("POST", "/api/generate"), ("DELETE", "/api/delete")]
    assert [m["name"] for m in get_json(seeded, "/api/ps")["models"]] == []
    assert [m["name"] for m in get_json(seeded, "/api/tags")["models"]] == ["llama3.1:8b", "qwen2.5-coder:32b"]
    left = set(os.listdir(blobs(seeded)))
    assert LLAMA.layers[0].digest.replace(":", "-") not in left
    assert catalogue.LLAMA_PARAMS.digest.replace(":", "-") in left  # llama3.1:8b has it too
    assert not (seeded.home / ".ollama/models/manifests/registry.ollama.ai/library/llama3.2").exists()


def test_a_removed_model_is_not_found_anywhere(seeded):
    assert cli(seeded, "rm", "llama3.2").returncode == 0
    result = cli(seeded, "rm", "llama3.2")
    assert (result.returncode, result.stdout, ESCAPES.sub("", result.stderr)) == (
        1, "", "Error: model 'llama3.2' not found\n")
    assert post(seeded, "/api/show", {"model": "llama3.2"})[::2] == (404, b"{\"error\":\"model 'llama3.2:latest' not found\"}")
    assert post(seeded, "/api/generate", {"model": "llama3.2", "prompt": "hi"})[0] == 404
    assert ask(seeded, "GET", "/v1/models/llama3.2").status == 404
    assert "llama3.2" not in cli(seeded, "list").stdout


def test_delete_alone_leaves_a_loaded_model_loaded(seeded):
    post_json(seeded, "/api/generate", {"model": "llama3.2", "prompt": "hi", "stream": False})
    connection = http.client.HTTPConnection("127.0.0.1", seeded.port, timeout=10)
    connection.request("DELETE", "/api/delete", json.dumps({"model": "llama3.2"}))
    response = connection.getresponse()
    assert (response.status, response.read()) == (200, b"")
    assert [m["name"] for m in get_json(seeded, "/api/ps")["models"]] == ["llama3.2:latest"]
    assert [m["name"] for m in get_json(seeded, "/api/tags")["models"]] == ["qwen2.5-coder:32b"]


@pytest.mark.parametrize(("fields", "status", "answer"), [
    ({"model": "nope"}, 404, {"error": "model 'nope' not found"}),
    ({"name": "NoPe:x"}, 404, {"error": "model 'NoPe:x' not found"}),
    ({"model": ""}, 400, {"error": "model is required"}),
])
def test_delete_refuses_like_ollama(seeded, fields, status, answer):
    connection = http.client.HTTPConnection("127.0.0.1", seeded.port, timeout=10)
    connection.request("DELETE", "/api/delete", json.dumps(fields))
    response = connection.getresponse()
    assert (response.status, json.loads(response.read())) == (status, answer)


def test_names_are_matched_in_any_case(seeded):
    assert post_json(seeded, "/api/show", {"model": "LLAMA3.2:Latest"})["details"]["family"] == "llama"
    assert cli(seeded, "rm", "Llama3.2").stdout == "deleted 'Llama3.2'\n"
    assert [m["name"] for m in get_json(seeded, "/api/tags")["models"]] == ["qwen2.5-coder:32b"]


def test_the_servers_keep_alive_and_context_length_are_the_defaults(tmp_path):
    with running_standin(tmp_path, OLLAMA_KEEP_ALIVE="30m", OLLAMA_CONTEXT_LENGTH="32768") as standin:
        post_json(standin, "/v1/chat/completions", {"model": "llama3.2", "messages": HI})
        [loaded] = get_json(standin, "/api/ps")["models"]
        assert loaded["context_length"] == 32768
        assert re.search(r"32768 +29 minutes from now +$", cli(standin, "ps").stdout.splitlines()[1])


def test_two_pulls_of_one_model_share_its_downloads(empty, registry):
    before = len(registry.requests())
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: pull_lines(empty, {"model": "nomic-embed-text"}), range(2)))
    assert [lines[-1] for _, lines in results] == [{"status": "success"}] * 2
    heads = [asked for asked in registry.requests()[before:] if asked.startswith("HEAD")]
    assert len(heads) == len(NOMIC.layers) + 1  # one download of each blob


def test_the_registry_answers_as_the_real_one(registry):
    context = ssl.create_default_context(cafile=str(registry.ca))
    connection = http.client.HTTPSConnection("registry.ollama.ai", context=context)
    connection.sock = context.wrap_socket(socket.create_connection(("127.0.0.1", registry.port)),
                                          server_hostname="registry.ollama.ai")
    answers = []
    for path in ("/v2/library/llama3.2/manifests/latest", "/v2/library/llama3.2/manifests/nope"):
        connection.request("GET", path, headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
        response = connection.getresponse()
        answers.append((response.status, response.getheader("Content-Type"), response.read()))
    connection.close()
    assert answers == [
        (200, "application/vnd.docker.distribution.manifest.v2+json", LLAMA.manifest()),
        (404, "application/json",
         b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"nope"}}]}'),
    ]
