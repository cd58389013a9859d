"""Checks that prove, on the host itself, the server's desired state: Ollama on
loopback only, HAProxy on the Tailscale address only, both kept alive by
launchd, a valid config, tight file modes, and the allowlist holding."""

import json

import pytest

from facts.launchd import LaunchdService
from facts.network import TcpListeners
from tests.probes import probe

WILDCARDS = {"*", "0.0.0.0", "::", "[::]"}


def listeners(server, port, command_prefix):
    return [
        listener for listener in server.fact(TcpListeners, port)
        if listener["command"].lower().startswith(command_prefix)
    ]


def test_ollama_listens_on_loopback_only(server):
    ollama = listeners(server, server.settings.ollama_port, "ollama")
    assert ollama, "Ollama is not listening"
    assert {listener["address"] for listener in ollama} == {server.settings.ollama_listen_address}


def test_nothing_listens_on_a_wildcard_on_the_served_ports(server):
    for port in {server.settings.ollama_port, server.settings.proxy_port}:
        assert not [found for found in server.fact(TcpListeners, port) if found["address"] in WILDCARDS]


def test_haproxy_listens_on_the_tailscale_address_only(server):
    haproxy = server.fact(TcpListeners, server.settings.proxy_port)
    haproxy = [found for found in haproxy if found["command"].startswith("haproxy")]
    assert {found["address"] for found in haproxy} == {server.tailscale_ip}


@pytest.mark.parametrize("service", ["ollama", "haproxy"])
def test_job_is_running_and_kept_alive(server, service):
    job = server.fact(LaunchdService, server.layout.service_target(service))
    assert job is not None, f"{service} is not loaded in {server.layout.domain}"
    assert job["state"] == "running" and job["pid"]
    plist = server.plist(service)
    assert plist["KeepAlive"] is True and plist["ThrottleInterval"] >= 1


def test_ollama_job_pins_loopback(server):
    assert server.plist("ollama")["EnvironmentVariables"]["OLLAMA_HOST"] == (
        f"{server.settings.ollama_listen_address}:{server.settings.ollama_port}"
    )


def test_live_config_passes_haproxy_check(server):
    check = server.run(f"{server.layout.brew_bin('haproxy')} -c -f {server.layout.haproxy_config}")
    assert check.rc == 0, check.stdout + check.stderr


@pytest.mark.parametrize("service", ["ollama", "haproxy"])
def test_plist_mode_and_owner(server, service):
    plist = server.host.file(server.layout.plist_path(service))
    assert plist.mode == 0o644
    expected = ("root", "wheel") if server.layout.needs_root else (server.layout.user, None)
    assert plist.user == expected[0]
    if expected[1]:
        assert plist.group == expected[1]


def test_config_is_private_to_the_user(server):
    config = server.host.file(server.layout.haproxy_config)
    assert (config.user, config.mode) == (server.layout.user, 0o600)
    assert server.host.file(server.layout.config_dir).mode == 0o700


@pytest.fixture(scope="module")
def model(server):
    """A model the host has, or None: then the routes that need one get Ollama's own 404."""
    status, body = server.curl("GET", "/api/tags")
    assert status == 200, body
    models = json.loads(body)["models"]
    return models[0]["name"] if models else None


def test_every_allowed_route_reaches_ollama_through_the_proxy(server, model):
    for route in server.settings.allowed_routes:
        method, path, body = probe(route, model or "no-model-installed")
        status, answer = server.curl(method, path, body=body)
        if model:
            assert status == 200, f"{method} {path} -> {status} {answer}"
        else:  # Ollama's own answer, not one of the proxy's refusals
            assert status not in (403, 411, 413) and "not allowed" not in answer, f"{method} {path} -> {status} {answer}"


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/pull"), ("DELETE", "/api/delete"), ("POST", "/api/create"), ("POST", "/api/copy"),
     ("POST", "/%61pi/pull"), ("POST", "/v1/models/../../api/pull"), ("POST", "/v1/messages/count_tokens")],
)
def test_denied_routes_are_refused_by_the_proxy(server, method, path):
    status, body = server.curl(method, path)
    assert status == 403 and body.startswith("{"), f"{method} {path} -> {status} {body}"


def test_foreign_host_header_is_refused(server):
    status, _ = server.curl("GET", "/api/tags", "Host: evil.example")
    assert status == 403
