"""Only the allowlist reaches Ollama.

Every allowlisted route (read from the settings) gets through with Host
rewritten to Ollama's own address; every other method and path of Ollama's
route table (the stand-in's, which mirrors FIELD-NOTES) is answered by HAProxy
with a JSON 403 in the path's dialect and never reaches Ollama. Each route set,
turned on alone, lets through its own routes and no other set's.
"""

from __future__ import annotations

import json
import re

import pytest

from private_ollama.desired_state.routes import ROUTE_SETS
from private_ollama.desired_state.settings import Settings
from tests.proxy.haproxy import listening, running_haproxy
from tests.proxy.processes import free_port
from tests.proxy.refusals import assert_refused
from tests.proxy.standin import load_standin_module
from tests.proxy.wire import exchange, new_marker, request

STANDIN = load_standin_module()
ALLOWED = [(route.method, route.path) for route in Settings.from_data({}).allowed_routes]
# Ollama's whole surface in the settings' syntax: gin's ":name" becomes "{name}".
SURFACE = [(method, re.sub(r":(\w+)", r"{\1}", path)) for method, path, _ in STANDIN.ROUTES]
DENIED = [route for route in SURFACE if route not in ALLOWED]
SAMPLES = {
    "{model}": STANDIN.MODELS[-1]["name"],
    "{digest}": "sha256:" + "ab" * 32,
    "{encodedKey}": "c3NoLWVkMjU1MTkgQUFBQUMzTnphQzFsWkRJMU5URTVBQUFBSQ",
}


def target_of(path: str) -> str:
    for placeholder, sample in SAMPLES.items():
        path = path.replace(placeholder, sample)
    return path


def body_for(method: str) -> bytes:
    """A body every handler accepts: a known model, no streaming, one token."""
    if method not in ("POST", "DELETE"):
        return b""
    return json.dumps({"model": SAMPLES["{model}"], "stream": False, "max_tokens": 1,
                       "messages": [{"role": "user", "content": "hi"}], "input": "hi"}).encode()


def send(proxy, method: str, path: str, marker: str):
    raw = request(method, target_of(path), proxy.host, marker, body_for(method))
    [response] = exchange(proxy.port, raw, expect=1, head_only=method == "HEAD")
    return response


def test_the_surface_covers_the_allowlist():
    # An allowlisted route missing from the stand-in's table would make the tests below vacuous.
    assert set(ALLOWED) <= set(SURFACE)


@pytest.mark.parametrize(("method", "path"), ALLOWED, ids=[f"{m} {p}" for m, p in ALLOWED])
def test_allowed_route_is_answered_by_ollama(proxy, ollama, method, path):
    response = send(proxy, method, path, new_marker())
    assert response.status == 200, response.body


@pytest.mark.parametrize(("method", "path"), ALLOWED, ids=[f"{m} {p}" for m, p in ALLOWED])
def test_allowed_route_reaches_ollama_with_host_rewritten(proxy, ollama, method, path):
    marker = new_marker()
    send(proxy, method, path, marker)
    [seen] = ollama.record.with_marker(marker)
    assert (seen["method"], seen["target"]) == (method, target_of(path))
    assert [value for name, value in seen["headers"] if name.lower() == "host"] == [f"127.0.0.1:{ollama.port}"]


@pytest.mark.parametrize(("method", "path"), DENIED, ids=[f"{m} {p}" for m, p in DENIED])
def test_rest_of_the_surface_is_denied_with_json(proxy, ollama, method, path):
    response = send(proxy, method, path, new_marker())
    if method == "HEAD":  # a HEAD response has no body
        assert (response.status, response.headers["content-type"]) == (403, "application/json")
    else:
        assert_refused(response, "route_not_allowed", target_of(path))


@pytest.mark.parametrize(("method", "path"), DENIED, ids=[f"{m} {p}" for m, p in DENIED])
def test_rest_of_the_surface_never_reaches_ollama(proxy, ollama, method, path):
    marker = new_marker()
    send(proxy, method, path, marker)
    assert not ollama.record.has(marker)


SETS = list(ROUTE_SETS)


@pytest.fixture(scope="module", params=SETS)
def one_set_proxy(request, haproxy_binary, ollama, tmp_path_factory):
    """HAProxy with one route set on, nothing else."""
    settings = Settings.from_data({"proxy_port": free_port(), "ollama_port": ollama.port,
                                   "ollama_route_sets": [request.param]})
    with running_haproxy(settings, tmp_path_factory.mktemp(f"haproxy-{request.param}"),
                         ready=listening) as proxy:
        yield request.param, proxy


def pairs(name: str) -> list[tuple[str, str]]:
    return [(route.method, route.path) for route in ROUTE_SETS[name].routes]


def test_every_route_of_a_set_reaches_ollama_when_the_set_is_on(one_set_proxy, ollama):
    name, proxy = one_set_proxy
    for method, path in pairs(name):
        marker = new_marker()
        response = send(proxy, method, path, marker)
        assert response.status == 200 and ollama.record.has(marker), (method, path, response.status, response.body)


def test_no_route_of_another_set_reaches_ollama(one_set_proxy, ollama):
    name, proxy = one_set_proxy
    for other in SETS:
        for method, path in pairs(other) if other != name else []:
            marker = new_marker()
            response = send(proxy, method, path, marker)
            assert (response.status, ollama.record.has(marker)) == (403, False), (name, method, path)
