"""Adversarial spellings, hosts, framings and protocol switches: refused, and never seen by Ollama.

Each request carries a unique marker header; "never reaches Ollama" means no
request with that marker is in the stand-in's record. Denials by our rules are
JSON in the dialect of the path (tests/proxy/refusals.py); requests HAProxy's own
parser refuses get its 400 (the errorfile's JSON on 3.x, HTML on 2.6). Where
HAProxy 3.x's parser refuses what 2.6 leaves to our rules, either refusal passes.
"""

from __future__ import annotations

import pytest

from tests.proxy.refusals import assert_refused
from tests.proxy.wire import MARKER_HEADER, exchange, new_marker, request, send_then_settle

ROUTE = "route_not_allowed"
HOST = "host_not_allowed"
UPGRADE = "upgrade_not_allowed"
CHUNKED = "length_required"
TOO_LARGE = "request_too_large"

# (method, target): spellings of Ollama routes that Ollama itself would serve,
# redirect or 404, and that the exact raw allowlist refuses.
TARGETS = [
    ("GET", "/%61pi/tags"),  # percent-encoded letter: Ollama decodes it to /api/tags
    ("POST", "/%61pi/pull"),
    ("GET", "/api/tag%73"),
    ("POST", "/v1/chat%2Fcompletions"),  # encoded slash: Ollama routes it to the chat handler
    ("POST", "/v1/chat%2fcompletions"),
    ("GET", "/api%2ftags"),
    ("GET", "/%2e%2e/api/tags"),
    ("GET", "/v1/models/%2e%2e/%2e%2e/api/tags"),
    ("POST", "/v1/models/../../api/pull"),  # a prefix match would let this through
    ("GET", "/v1/models/../../api/tags"),
    ("GET", "/./api/tags"),
    ("GET", "/api/./tags"),
    ("GET", "/api/../api/tags"),
    ("GET", "//api/tags"),
    ("GET", "/api//tags"),
    ("POST", "//v1/chat/completions"),
    ("GET", "/API/TAGS"),
    ("GET", "/Api/tags"),
    ("GET", "/V1/models"),
    ("POST", "/V1/CHAT/COMPLETIONS"),
    ("GET", "/api/tags/"),
    ("POST", "/v1/chat/completions/"),
    ("GET", "/v1/models/"),
    ("GET", "/api/tags;x=1"),
    ("GET", "/api/tags%00"),
    ("GET", "/api/tags%20"),
    ("GET", "/api\\tags"),
    ("POST", "/v1/messages/count_tokens"),  # no such Ollama route: a prefix match is wrong
    ("POST", "/v1/messages/"),
    ("GET", "/v1/models/hf.co/org/name"),  # not one segment
    ("GET", "/v1/models/.."),
    ("GET", "/v1/models/."),
    ("GET", "/v1/models/%2e%2e"),
    ("GET", "/v1/models/llama3.2%3Alatest%2F..%2F..%2Fapi%2Fpull"),
    ("GET", "/v1/models/llama3.2%253Alatest"),  # double encoding
    ("GET", "/v1/models/%6Clama3.2"),
    ("GET", "/v1/models/-rf"),
    ("GET", "/v1/models/llama3.2:latest/"),
    ("get", "/api/tags"),  # methods are case-sensitive
    ("Get", "/api/tags"),
    ("post", "/v1/chat/completions"),
    ("HEAD", "/api/tags"),  # HEAD is not GET
    ("HEAD", "/v1/models"),
    ("OPTIONS", "/api/tags"),
    ("OPTIONS", "*"),
    ("TRACE", "/api/tags"),
    ("PUT", "/v1/chat/completions"),
    ("PATCH", "/v1/chat/completions"),
    ("DELETE", "/v1/models/llama3.2:latest"),
    ("GET", "/v1/chat/completions"),
    ("POST", "/api/tags"),
    ("POST", "/v1/models"),
]

M = f"{MARKER_HEADER}: {{marker}}\r\n"
H = "Host: {host}\r\n"
SMUGGLED = f"GET /api/pull HTTP/1.1\r\n{H}{M}\r\n"
# (name, raw request with {host}, {marker}, {too_big} placeholders, status (or statuses), our refusal or None).
FRAMINGS = [
    ("absolute-form target", f"GET http://{{host}}/api/tags HTTP/1.1\r\n{H}{M}\r\n", 403, ROUTE),
    ("absolute-form https target", f"GET https://{{host}}/api/tags HTTP/1.1\r\n{H}{M}\r\n", 403, ROUTE),
    ("absolute-form foreign authority", f"GET http://evil.example/api/tags HTTP/1.1\r\n{H}{M}\r\n", 400, None),
    ("fragment in target", f"GET /api/tags#x HTTP/1.1\r\n{H}{M}\r\n", 400, None),
    ("NUL byte in target", f"GET /api/tags\x00 HTTP/1.1\r\n{H}{M}\r\n", 400, None),
    ("CONNECT", f"CONNECT {{host}} HTTP/1.1\r\n{H}{M}\r\n", 403, ROUTE),
    ("HTTP/0.9", "GET /api/tags?{marker}\r\n", 400, None),
    ("HTTP/2 preface", f"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nGET /api/tags HTTP/1.1\r\n{H}{M}\r\n", 400, None),
    ("foreign Host", f"GET /api/tags HTTP/1.1\r\nHost: evil.example\r\n{M}\r\n", 403, HOST),
    ("Host localhost", f"GET /api/tags HTTP/1.1\r\nHost: localhost\r\n{M}\r\n", 403, HOST),
    ("Host with a foreign suffix", f"GET /api/tags HTTP/1.1\r\nHost: remote-ollama.evil.example\r\n{M}\r\n", 403,
     HOST),
    ("Host with a prefix", f"GET /api/tags HTTP/1.1\r\nHost: xremote-ollama\r\n{M}\r\n", 403, HOST),
    ("Host with another port", f"GET /api/tags HTTP/1.1\r\nHost: remote-ollama:1\r\n{M}\r\n", 403, HOST),
    ("Host with two trailing dots", f"GET /api/tags HTTP/1.1\r\nHost: remote-ollama.tail1234.ts.net..\r\n{M}\r\n",
     403, HOST),
    ("Host with a leading dot", f"GET /api/tags HTTP/1.1\r\nHost: .remote-ollama\r\n{M}\r\n", 403, HOST),
    ("Host with a dot after the port", f"GET /api/tags HTTP/1.1\r\nHost: {{host}}.\r\n{M}\r\n", 403, HOST),
    ("Host with userinfo", f"GET /api/tags HTTP/1.1\r\nHost: user@{{host}}\r\n{M}\r\n", (403, 400), HOST),
    ("Host list", f"GET /api/tags HTTP/1.1\r\nHost: evil.example, {{host}}\r\n{M}\r\n", (403, 400), HOST),
    ("empty Host", f"GET /api/tags HTTP/1.1\r\nHost: \r\n{M}\r\n", 403, HOST),
    ("missing Host", f"GET /api/tags HTTP/1.1\r\n{M}\r\n", 403, HOST),
    ("missing Host, HTTP/1.0", f"GET /api/tags HTTP/1.0\r\n{M}\r\n", 403, HOST),
    ("duplicate Host, both allowed", f"GET /api/tags HTTP/1.1\r\n{H}Host: remote-ollama\r\n{M}\r\n", 400, None),
    ("duplicate Host, one foreign", f"GET /api/tags HTTP/1.1\r\n{H}Host: evil.example\r\n{M}\r\n", 400, None),
    ("Transfer-Encoding chunked", (f"POST /api/show HTTP/1.1\r\n{H}{M}Transfer-Encoding: chunked\r\n\r\n"
                                   '1b\r\n{{"model":"llama3.2:latest"}}\r\n0\r\n\r\n'), 411, CHUNKED),
    ("Transfer-Encoding CHUNKED", f"POST /api/show HTTP/1.1\r\n{H}{M}Transfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n",
     411, CHUNKED),
    ("Transfer-Encoding after a tab", f"POST /api/show HTTP/1.1\r\n{H}{M}Transfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n",
     411, CHUNKED),
    ("CL.TE smuggling", (f"POST /api/show HTTP/1.1\r\n{H}{M}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                         f"0\r\n\r\n{SMUGGLED}"), 411, CHUNKED),
    ("TE.CL smuggling", (f"POST /api/show HTTP/1.1\r\n{H}{M}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
                         f"{len(SMUGGLED):x}\r\n{SMUGGLED}\r\n0\r\n\r\n"), 400, None),
    ("Transfer-Encoding with space before colon",
     f"POST /api/show HTTP/1.1\r\n{H}{M}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400, None),
    ("Transfer-Encoding chunked, identity",
     f"POST /api/show HTTP/1.1\r\n{H}{M}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400, None),
    ("Transfer-Encoding xchunked", f"POST /api/show HTTP/1.1\r\n{H}{M}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
     400, None),
    ("Transfer-Encoding twice",
     f"POST /api/show HTTP/1.1\r\n{H}{M}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     400, None),
    ("duplicate Content-Length, different values",
     f"POST /api/show HTTP/1.1\r\n{H}{M}Content-Length: 2\r\nContent-Length: 3\r\n\r\n{{{{}}}}x", 400, None),
    ("Content-Length list", f"POST /api/show HTTP/1.1\r\n{H}{M}Content-Length: 2, 3\r\n\r\n{{{{}}}}x", 400, None),
    ("Content-Length above the cap", f"POST /api/show HTTP/1.1\r\n{H}{M}Content-Length: {{too_big}}\r\n\r\n{{{{}}}}",
     413, TOO_LARGE),
    ("huge Content-Length", f"POST /api/show HTTP/1.1\r\n{H}{M}Content-Length: 999999999999999\r\n\r\n{{{{}}}}",
     413, TOO_LARGE),
    ("Content-Length past 32 bits", f"POST /api/show HTTP/1.1\r\n{H}{M}Content-Length: 4294967298\r\n\r\n{{{{}}}}",
     413, TOO_LARGE),  # req.hdr_val() would read 2
    ("largest Content-Length", f"POST /api/show HTTP/1.1\r\n{H}{M}Content-Length: 9223372036854775807\r\n\r\n",
     413, TOO_LARGE),
    ("overflowing Content-Length",
     f"POST /api/show HTTP/1.1\r\n{H}{M}Content-Length: 99999999999999999999999\r\n\r\n{{{{}}}}", 400, None),
    ("negative Content-Length", f"POST /api/show HTTP/1.1\r\n{H}{M}Content-Length: -1\r\n\r\n{{{{}}}}", 400, None),
    ("signed Content-Length", f"POST /api/show HTTP/1.1\r\n{H}{M}Content-Length: +2\r\n\r\n{{{{}}}}", 400, None),
    ("hex Content-Length", f"POST /api/show HTTP/1.1\r\n{H}{M}Content-Length: 0x2\r\n\r\n{{{{}}}}", 400, None),
    ("WebSocket upgrade", (f"GET /api/tags HTTP/1.1\r\n{H}{M}Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"), 403,
     UPGRADE),
    ("WebSocket upgrade without Connection", (f"GET /api/tags HTTP/1.1\r\n{H}{M}Upgrade: websocket\r\n"
                                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"), 403, UPGRADE),
    ("Upgrade header alone", f"GET /api/tags HTTP/1.1\r\n{H}{M}Upgrade: websocket\r\n\r\n", 403, UPGRADE),
    ("h2c offered beside a WebSocket", (f"GET /api/tags HTTP/1.1\r\n{H}{M}Upgrade: h2c, websocket\r\n"
                                        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"),
     403, UPGRADE),
    ("WebSocket, then h2c", (f"GET /api/tags HTTP/1.1\r\n{H}{M}Upgrade: websocket\r\nUpgrade: h2c\r\n"
                             "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"), 403, UPGRADE),
    ("TLS upgrade", f"GET /api/tags HTTP/1.1\r\n{H}{M}Upgrade: TLS/1.0\r\nConnection: Upgrade\r\n\r\n", 403, UPGRADE),
    ("underscore in a header name", f"GET /api/tags HTTP/1.1\r\n{H}{M}X_Forwarded_For: 10.0.0.1\r\n\r\n", 403,
     "header_name_not_allowed"),
    ("space in a header name", f"GET /api/tags HTTP/1.1\r\n{H}{M}X Bad: 1\r\n\r\n", 400, None),
    ("NUL byte in a header name", f"GET /api/tags HTTP/1.1\r\n{H}{M}X-A\x00: 1\r\n\r\n", 400, None),
    ("header line without colon", f"GET /api/tags HTTP/1.1\r\n{H}{M}Garbage\r\n\r\n", 400, None),
]


def framing(template: str, proxy, marker: str) -> bytes:
    too_big = proxy.settings.proxy_max_body_bytes + 1
    return template.format(host=proxy.host, marker=marker, too_big=too_big).encode("latin-1")


@pytest.mark.parametrize(("method", "target"), TARGETS, ids=[f"{m} {t}" for m, t in TARGETS])
def test_other_spelling_is_denied_with_json(proxy, method, target):
    raw = request(method, target, proxy.host, new_marker())
    [response, *_] = exchange(proxy.port, raw, expect=1, head_only=method == "HEAD")
    if method == "HEAD":
        assert (response.status, response.headers["content-type"]) == (403, "application/json")
    else:
        assert_refused(response, ROUTE, target)


@pytest.mark.parametrize(("method", "target"), TARGETS, ids=[f"{m} {t}" for m, t in TARGETS])
def test_other_spelling_never_reaches_ollama(proxy, ollama, method, target):
    marker = new_marker()
    send_then_settle(proxy.port, request(method, target, proxy.host, marker), proxy.host)
    assert not ollama.record.has(marker)


@pytest.mark.parametrize(("template", "status", "error"), [case[1:] for case in FRAMINGS],
                         ids=[case[0] for case in FRAMINGS])
def test_hostile_request_is_refused(proxy, template, status, error):
    [response, *_] = exchange(proxy.port, framing(template, proxy, new_marker()), expect=1)
    assert response.status in (status if isinstance(status, tuple) else (status,))
    if error is not None and response.status != 400:
        assert_refused(response, error, template.split(" ", 2)[1].format(host=proxy.host))


@pytest.mark.parametrize("template", [case[1] for case in FRAMINGS], ids=[case[0] for case in FRAMINGS])
def test_hostile_request_never_reaches_ollama(proxy, ollama, template):
    marker = new_marker()
    send_then_settle(proxy.port, framing(template, proxy, marker), proxy.host)
    assert not ollama.record.has(marker)
