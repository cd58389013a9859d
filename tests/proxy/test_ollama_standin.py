"""The Ollama stand-in is as strict as Ollama where the proxy depends on it.

A stand-in kinder than Ollama would hide proxy bugs: it must route on the
decoded path, redirect unclean paths, refuse foreign Host and Origin values, and
stream for real. Its CLI prints what the captures show.
"""

from __future__ import annotations

import http.client
import itertools
import json
import socket
import subprocess

import pytest

from tests.proxy.processes import free_port, wait_until
from tests.proxy.standin import CHUNK_INTERVAL_MS, OLLAMA, PYTHON, load_standin_module, running_standin
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


def test_list_without_a_server_fails(ollama):
    result = cli(ollama, "list", OLLAMA_HOST=f"127.0.0.1:{free_port()}")
    assert (result.returncode, result.stderr) == (1, "Error: could not connect to ollama app, is it running?\n")


def test_unknown_command_is_a_usage_error(ollama):
    result = cli(ollama, "pull", "llama3.2")
    assert result.returncode == 1
    assert result.stderr.startswith('Error: unknown command "pull" for "ollama"')


def test_serve_on_a_busy_port_fails_like_go(ollama):
    result = cli(ollama, "serve")  # ollama.env() points at the running stand-in's port
    assert result.returncode == 1
    assert result.stderr == f"Error: listen tcp 127.0.0.1:{ollama.port}: bind: address already in use\n"


def test_serve_exits_cleanly_on_sigterm(tmp_path):
    with running_standin(tmp_path) as ollama:
        process = ollama.process
    assert process.returncode == 0
