"""Per-client API keys (proxy_api_keys): the real HAProxy admits a request only
with a known key, in either header clients use; anything else is a 401 that
names nothing, never reaches Ollama, and a revoked key stops working.

Keys never appear in an assertion's expression: a failing test would print it.
"""

from __future__ import annotations

import pytest

from private_ollama.desired_state.api_keys import KeyStore
from private_ollama.desired_state.settings import Settings
from tests.proxy.haproxy import listening, running_haproxy
from tests.proxy.processes import free_port
from tests.proxy.refusals import assert_refused
from tests.proxy.wire import exchange, new_marker, request

UNAUTHORIZED = {"error": "missing or invalid API key"}  # Ollama's shape, under /api/


def keyed_settings(ollama, store: KeyStore):
    return Settings.from_data({"proxy_port": free_port(), "ollama_port": ollama.port,
                         "proxy_api_keys": True, "proxy_api_keys_file": str(store.path)})


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> KeyStore:
    return KeyStore(tmp_path_factory.mktemp("keys") / "api-keys.json")


@pytest.fixture(scope="module")
def keys(store) -> dict[str, str]:
    return {name: store.add(name) for name in ("alice", "bob")}


def send(proxy, *headers: str, marker: str | None = None):
    raw = request("GET", "/api/tags", proxy.host, marker or new_marker(), headers=headers)
    [response] = exchange(proxy.port, raw, expect=1)
    return response


@pytest.fixture(scope="module")
def keyed_proxy(haproxy_binary, ollama, store, keys, tmp_path_factory):
    with running_haproxy(keyed_settings(ollama, store), tmp_path_factory.mktemp("keyed"),
                         ready=listening) as proxy:
        yield proxy


KEY_HEADERS = {
    "x-api-key": "x-api-key: {key}",
    "Authorization: Bearer": "Authorization: Bearer {key}",
    "bearer in lower case": "authorization: bearer {key}",
}


@pytest.mark.parametrize("header", list(KEY_HEADERS.values()), ids=list(KEY_HEADERS))
def test_known_key_is_admitted(keyed_proxy, keys, header):
    assert send(keyed_proxy, header.format(key=keys["alice"])).status == 200


REFUSED = {
    "no key": (),
    "unknown key": ("x-api-key: po_{unknown}",),
    "unknown bearer token": ("Authorization: Bearer po_{unknown}",),
    "key with a trailing space": ("x-api-key: {alice}x",),
    "key of another scheme": ("Authorization: Basic {alice}",),
    "empty bearer token": ("Authorization: Bearer ",),
    "key twice": ("x-api-key: {alice}", "x-api-key: {alice}"),
    "bearer token twice": ("Authorization: Bearer {alice}", "Authorization: Bearer {alice}"),
}


@pytest.mark.parametrize("headers", list(REFUSED.values()), ids=list(REFUSED))
def test_missing_or_wrong_key_gets_401_json_naming_nothing(keyed_proxy, keys, headers):
    response = send(keyed_proxy, *(h.format(alice=keys["alice"], unknown="A" * 43) for h in headers))
    assert_refused(response, "invalid_api_key", "/api/tags")
    assert response.json() == UNAUTHORIZED
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/models", "/api/tags"])
def test_a_wrong_key_is_told_in_the_dialect_and_not_to_retry(keyed_proxy, path):
    marker = new_marker()
    [response] = exchange(keyed_proxy.port, request("GET", path, keyed_proxy.host, marker,
                                                    headers=("x-api-key: po_wrong",)), expect=1)
    assert_refused(response, "invalid_api_key", path)  # x-should-retry: false, or SDKs retry a 401 for minutes


@pytest.mark.parametrize("headers", list(REFUSED.values()), ids=list(REFUSED))
def test_refused_request_never_reaches_ollama(keyed_proxy, ollama, keys, headers):
    marker = new_marker()
    send(keyed_proxy, *(h.format(alice=keys["alice"], unknown="A" * 43) for h in headers), marker=marker)
    assert not ollama.record.has(marker)


def test_ollama_never_sees_the_key(keyed_proxy, ollama, keys):
    marker = new_marker()
    send(keyed_proxy, f"x-api-key: {keys['alice']}", f"Authorization: Bearer {keys['bob']}", marker=marker)
    [seen] = ollama.record.with_marker(marker)
    sent_headers = {name.lower() for name, _ in seen["headers"]}
    assert sent_headers.isdisjoint({"authorization", "x-api-key"})


def test_revoked_key_is_refused_after_the_next_render(haproxy_binary, ollama, tmp_path):
    store = KeyStore(tmp_path / "api-keys.json")
    keys = {name: store.add(name) for name in ("alice", "bob")}
    store.revoke("bob")
    with running_haproxy(keyed_settings(ollama, store), tmp_path / "haproxy", ready=listening) as proxy:
        statuses = {name: send(proxy, f"x-api-key: {key}").status for name, key in keys.items()}
    assert statuses == {"alice": 200, "bob": 401}


def test_without_keys_no_key_is_asked_for(proxy):
    assert send(proxy).status == 200
