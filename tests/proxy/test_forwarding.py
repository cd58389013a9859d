"""What an allowed request looks like when it reaches Ollama, and which allowed spellings pass."""

from __future__ import annotations

import json

import pytest

from private_ollama.desired_state.files import Tailnet
from tests.proxy.haproxy import DNS_NAME
from tests.proxy.wire import exchange, new_marker, request


def reaches_ollama(proxy, ollama, raw_request: bytes, marker: str) -> dict | None:
    """Send one request through the proxy; the stand-in's record of it (None if it never arrived)."""
    [response] = exchange(proxy.port, raw_request, expect=1)
    seen = ollama.record.with_marker(marker)
    return seen[0] if response.status == 200 and len(seen) == 1 else None


def header_values(seen: dict, name: str) -> list[str]:
    return [value for key, value in seen["headers"] if key.lower() == name]


@pytest.mark.parametrize(
    "model", ["{id}", "{name}", "{name}%3A{tag}", "{name}%3a{tag}"],
    ids=["name:tag", "name only", "colon as %3A", "colon as %3a"],
)
def test_model_id_spelling_is_allowed(proxy, ollama, model_id, model):
    name, tag = model_id.split(":")
    marker = new_marker()
    target = "/v1/models/" + model.format(id=model_id, name=name, tag=tag)
    assert reaches_ollama(proxy, ollama, request("GET", target, proxy.host, marker), marker)


def test_query_string_reaches_ollama_unchanged(proxy, ollama, model_id):
    # Anthropic clients (Claude Code) call /v1/messages?beta=true.
    marker = new_marker()
    body = json.dumps({"model": model_id, "max_tokens": 1, "messages": []}).encode()
    seen = reaches_ollama(proxy, ollama, request("POST", "/v1/messages?beta=true", proxy.host, marker, body), marker)
    assert seen["target"] == "/v1/messages?beta=true"


TAILNET = Tailnet(ip="127.0.0.1", dns_name=DNS_NAME)  # as the proxy fixture renders it
HOST_NAMES = [TAILNET.ip, TAILNET.short_name, TAILNET.dns_name, TAILNET.short_name.upper(), TAILNET.dns_name.upper()]


@pytest.mark.parametrize("name", HOST_NAMES)
@pytest.mark.parametrize("with_port", [False, True], ids=["bare", "with port"])
def test_every_tailnet_host_spelling_is_allowed(proxy, ollama, name, with_port):
    host = f"{name}:{proxy.port}" if with_port else name
    marker = new_marker()
    assert reaches_ollama(proxy, ollama, request("GET", "/api/version", host, marker), marker)


def test_forged_forwarding_headers_are_replaced_by_the_client_address(proxy, ollama):
    marker = new_marker()
    forged = ("X-Forwarded-For: 10.9.8.7", "Forwarded: for=10.9.8.7", "X-Real-IP: 10.9.8.7",
              "X-Forwarded-Host: evil.example", "X-Forwarded-Proto: https")
    seen = reaches_ollama(proxy, ollama, request("GET", "/api/tags", proxy.host, marker, headers=forged), marker)
    forwarding = {name.lower(): value for name, value in seen["headers"]
                  if name.lower() in ("x-forwarded-for", "forwarded", "x-real-ip", "x-forwarded-host",
                                      "x-forwarded-proto")}
    assert forwarding == {"x-forwarded-for": "127.0.0.1"}


def test_body_at_the_cap_reaches_ollama(proxy, ollama, model_id):
    marker = new_marker()
    body = json.dumps({"model": model_id}).encode()
    body += b" " * (proxy.settings.proxy_max_body_bytes - len(body))
    seen = reaches_ollama(proxy, ollama, request("POST", "/api/show", proxy.host, marker, body), marker)
    assert seen["body_length"] == proxy.settings.proxy_max_body_bytes


def test_pipelined_request_is_filtered_on_its_own(proxy, ollama):
    allowed, denied = new_marker(), new_marker()
    raw = request("GET", "/api/tags", proxy.host, allowed) + request("POST", "/api/pull", proxy.host, denied, b"{}")
    statuses = [response.status for response in exchange(proxy.port, raw, expect=2)]
    assert (statuses, ollama.record.has(allowed), ollama.record.has(denied)) == ([200, 403], True, False)
