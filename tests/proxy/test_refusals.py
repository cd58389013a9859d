"""Every answer the proxy makes itself is JSON in the dialect of the path the client called, says whether a
retry can help, and never reaches Ollama; offers the proxy can ignore (h2c, a Host's trailing dot) are
ignored rather than refused; compressed bodies are refused; a 101 from Ollama never opens a tunnel."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading

import pytest

from private_ollama.desired_state.refusals import PARSER_ERRORS, REFUSALS, errorfile
from private_ollama.desired_state.settings import Settings
from tests.proxy.haproxy import HAPROXY, running_haproxy
from tests.proxy.processes import free_port
from tests.proxy.refusals import assert_refused, dialect, message_of
from tests.proxy.wire import exchange, new_marker, request

# One path of each dialect, for each kind of request.
GETS = {"anthropic": "/v1/messages/batches", "openai": "/v1/files", "ollama": "/api/ps"}
POSTS = {"anthropic": "/v1/messages", "openai": "/v1/chat/completions", "ollama": "/api/show"}
BODY = b'{"model":"llama3.2","messages":[],"max_tokens":1}'


def ask(proxy, raw: bytes):
    [response, *_] = exchange(proxy.port, raw, expect=1)
    return response


def test_the_dialect_rule_is_the_one_the_readme_gives():
    assert [dialect(path) for path in ("/v1/messages", "/v1/messages/count_tokens", "/v1/messagesx",
                                       "/v1/models", "/api/tags", "/")] == [
        "anthropic", "anthropic", "openai", "openai", "ollama", "ollama"]


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_each_body_holds_the_message_where_each_sdk_reads_it(name):
    refusal = REFUSALS[name]
    anthropic, openai, ollama = (json.loads(refusal.body(d)) for d in ("anthropic", "openai", "ollama"))
    assert anthropic["type"] == "error" and anthropic["error"]["message"] == refusal.message
    assert anthropic["error"]["type"]
    assert openai["error"]["message"] == refusal.message and openai["error"]["type"] and openai["error"]["code"]
    assert ollama == {"error": refusal.message}


@pytest.mark.parametrize("wanted", sorted(GETS))
def test_a_foreign_host_is_refused_in_the_dialect(proxy, ollama, wanted):
    marker = new_marker()
    response = ask(proxy, request("POST", POSTS[wanted], "evil.example", marker, BODY))
    assert_refused(response, "host_not_allowed", POSTS[wanted])
    assert not ollama.record.has(marker)


@pytest.mark.parametrize("wanted", sorted(GETS))
def test_a_route_off_the_allowlist_is_refused_in_the_dialect(proxy, ollama, wanted):
    marker = new_marker()
    response = ask(proxy, request("GET", GETS[wanted], proxy.host, marker))
    assert_refused(response, "route_not_allowed", GETS[wanted])
    assert not ollama.record.has(marker)


def test_anthropic_count_tokens_is_refused_with_its_reason(proxy):
    response = ask(proxy, request("POST", "/v1/messages/count_tokens", proxy.host, new_marker(), BODY))
    assert_refused(response, "route_not_allowed", "/v1/messages/count_tokens")
    assert "route not allowed" in message_of(response.json())


FRAMED = {
    "length_required": ("Transfer-Encoding: chunked", b"0\r\n\r\n"),
    "unsupported_content_encoding": ("Content-Encoding: zstd", BODY),
}


@pytest.mark.parametrize("wanted", sorted(POSTS))
@pytest.mark.parametrize("name", sorted(FRAMED))
def test_framing_refusals_are_in_the_dialect(proxy, ollama, wanted, name):
    header, body = FRAMED[name]
    marker = new_marker()
    head = f"POST {POSTS[wanted]} HTTP/1.1\r\nHost: {proxy.host}\r\nX-Test-Marker: {marker}\r\n{header}\r\n"
    length = "" if "chunked" in header else f"Content-Length: {len(body)}\r\n"
    response = ask(proxy, (head + length + "\r\n").encode() + body)
    assert_refused(response, name, POSTS[wanted])
    assert not ollama.record.has(marker)


@pytest.mark.parametrize("wanted", sorted(POSTS))
def test_a_body_over_the_cap_is_refused_in_the_dialect(proxy, wanted):
    head = (f"POST {POSTS[wanted]} HTTP/1.1\r\nHost: {proxy.host}\r\n"
            f"Content-Length: {proxy.settings.proxy_max_body_bytes + 1}\r\n\r\n")
    assert_refused(ask(proxy, head.encode() + b"{}"), "request_too_large", POSTS[wanted])


@pytest.mark.parametrize("encoding", ["gzip", "zstd", "br", "deflate", "identity", "gzip, zstd", ""])
def test_any_content_encoding_is_refused_and_never_forwarded(proxy, ollama, encoding):
    marker = new_marker()
    raw = request("POST", "/v1/chat/completions", proxy.host, marker, BODY, headers=(f"Content-Encoding: {encoding}",))
    assert_refused(ask(proxy, raw), "unsupported_content_encoding", "/v1/chat/completions")
    assert not ollama.record.has(marker)


@pytest.mark.parametrize("wanted", sorted(GETS))
def test_haproxys_own_403_for_a_header_name_is_in_the_dialect(proxy, wanted):
    raw = request("POST", POSTS[wanted], proxy.host, new_marker(), BODY, headers=("X_Forwarded_For: 10.0.0.1",))
    assert_refused(ask(proxy, raw), "header_name_not_allowed", POSTS[wanted])


@pytest.mark.parametrize("wanted", sorted(GETS))
def test_a_websocket_upgrade_is_refused_in_the_dialect(proxy, ollama, wanted):
    marker = new_marker()
    raw = request("GET", GETS[wanted], proxy.host, marker, headers=(
        "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13"))
    assert_refused(ask(proxy, raw), "upgrade_not_allowed", GETS[wanted])
    assert not ollama.record.has(marker)


H2C_OFFER = ("Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAAQAAP__")


@pytest.mark.parametrize("offer", [H2C_OFFER, ("Upgrade: H2C", "Connection: upgrade, http2-settings"),
                                   ("HTTP2-Settings: AAMAAABkAAQAAP__",), ("Connection: keep-alive, Upgrade",)],
                         ids=["curl's h2c offer", "in capitals", "HTTP2-Settings alone", "Connection: upgrade alone"])
def test_an_h2c_offer_is_ignored_and_the_request_served_in_http_1_1(proxy, ollama, offer):
    marker = new_marker()
    [response] = exchange(proxy.port, request("GET", "/api/tags", proxy.host, marker, headers=offer), expect=1)
    assert response.status == 200
    [seen] = ollama.record.with_marker(marker)
    names = {name.lower() for name, _ in seen["headers"]}
    assert not names & {"upgrade", "http2-settings", "connection"}, seen["headers"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="no curl (Debian: apt-get install curl)")
def test_curl_http2_gets_an_http_1_1_answer(proxy):
    done = subprocess.run(["curl", "-sS", "--http2", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                           "-H", f"Host: {proxy.host}", f"http://127.0.0.1:{proxy.port}/api/tags"],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.stdout == "1.1 200", done.stderr


@pytest.mark.parametrize("host", ["remote-ollama.tail1234.ts.net.", "remote-ollama.tail1234.ts.net.:{port}",
                                  "remote-ollama.", "remote-ollama.:{port}", "REMOTE-OLLAMA.TAIL1234.TS.NET."])
def test_a_host_with_its_trailing_dot_is_this_mac(proxy, ollama, host):
    marker = new_marker()
    response = ask(proxy, request("GET", "/api/tags", host.format(port=proxy.port), marker))
    assert response.status == 200 and ollama.record.has(marker)


def haproxy_major_minor() -> tuple[int, int]:
    version = subprocess.run([HAPROXY, "-v"], capture_output=True, text=True, check=True).stdout
    major, minor = re.search(r"version (\d+)\.(\d+)", version).groups()
    return int(major), int(minor)


PARSER_REFUSED = [b"G(ET /api/tags HTTP/1.1\r\nHost: h\r\n\r\n", b"GET /api/tags HTTP/1.1\r\nGarbage\r\n\r\n",
                  b"GET /api/tags HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"]


@pytest.mark.parametrize("raw", PARSER_REFUSED, ids=["bad method", "header without colon", "two Hosts"])
def test_the_parsers_own_400_is_json_where_haproxy_allows_it(proxy, raw):
    [response] = exchange(proxy.port, raw, expect=1)
    assert response.status == 400
    if haproxy_major_minor() >= (2, 9):  # Homebrew's 3.x: the errorfile
        assert response.headers["content-type"] == "application/json"
        assert response.headers["x-should-retry"] == "false"
        assert message_of(response.json()) == PARSER_ERRORS[400]
        assert response.body.decode() == errorfile(400).split("\r\n\r\n", 1)[1]
    else:  # Debian's 2.6: its built-in HTML, whatever the config says (the README says so)
        assert response.headers["content-type"] == "text/html"


@pytest.mark.parametrize("status", sorted(PARSER_ERRORS))
def test_each_errorfile_is_a_whole_http_response(status):
    head, body = errorfile(status).split("\r\n\r\n", 1)
    lines = head.split("\r\n")
    assert lines[0].startswith(f"HTTP/1.1 {status} ")
    assert f"Content-Length: {len(body)}" in lines and message_of(json.loads(body)) == PARSER_ERRORS[status]


class SwitchingBackend:
    """An 'Ollama' that answers its health check, then switches protocols (101) on any other request."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            head = connection.recv(65536)
            if head.startswith(b"GET /api/version"):
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
            else:
                connection.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                   b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\ntunnelled-bytes")

    def close(self) -> None:
        self.socket.close()


def test_a_101_from_ollama_never_opens_a_tunnel(haproxy_binary, tmp_path):
    backend = SwitchingBackend()
    try:
        settings = Settings.from_data({"proxy_port": free_port(), "ollama_port": backend.port})
        with running_haproxy(settings, tmp_path) as proxy:
            [response] = exchange(proxy.port, request("GET", "/api/tags", proxy.host, new_marker(), headers=H2C_OFFER),
                                  expect=1)
    finally:
        backend.close()
    assert response.status == 502 and b"tunnelled-bytes" not in response.body
    assert_refused(response, "bad_response_from_ollama", "/api/tags")
