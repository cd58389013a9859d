"""The HAProxy config with the hardening knobs, as the deploy renders it: each
knob, alone or with all the others, passes the real ``haproxy -c``; each adds
its rules only when on; the key lookup compares digests and the config holds
no key hash, but changes when a key is revoked (so the deploy reloads HAProxy)."""

from __future__ import annotations

import json
import re

import pytest

from private_ollama.desired_state.api_keys import KeyStore, key_hash
from private_ollama.desired_state.files import tailscale_acl
from private_ollama.desired_state.settings import Settings
from tests.proxy.haproxy import HAPROXY, check, installed, render

TAILNET_IP = "100.101.102.103"
# Each knob, and a line that only it puts in the config.
KNOBS = {
    "API keys": ({"proxy_api_keys": True}, "api-keys.map"),
    "rate limit": ({"proxy_rate_limit_requests": 60}, "sc_http_req_rate(0) gt 60"),
    "streams per client": ({"proxy_client_max_concurrent": 4}, "sc_trackers(0) gt 4"),
    "cap toward Ollama": ({"proxy_ollama_max_concurrent": 3}, " maxconn 3"),
    "model allowlist": ({"ollama_allowed_models": ["llama3.2"], "proxy_buffer_bytes": 1024**2}, "req.body -m reg"),
    "access log": ({"proxy_access_log": True}, "log-format"),
}
ALL_ON = {key: value for knobs, _ in KNOBS.values() for key, value in knobs.items()}


@pytest.fixture
def store(tmp_path) -> KeyStore:
    store = KeyStore(tmp_path / "api-keys.json")
    store.add("alice")
    return store


def settings_with(store: KeyStore, knobs: dict):
    return Settings.from_data({"proxy_api_keys_file": str(store.path), **knobs})


@pytest.mark.skipif(HAPROXY is None, reason="no haproxy binary (Debian: apt-get install haproxy)")
@pytest.mark.parametrize("knobs", [knobs for knobs, _ in KNOBS.values()] + [ALL_ON], ids=[*KNOBS, "all on"])
def test_config_with_the_knob_passes_haproxy_check(tmp_path, store, knobs):
    result = check(installed(settings_with(store, knobs), tmp_path / "mac", TAILNET_IP))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("knobs", "line"), list(KNOBS.values()), ids=list(KNOBS))
def test_knob_adds_its_rules_only_when_on(store, knobs, line):
    present = {state: line in render(settings_with(store, on), TAILNET_IP) for state, on in (("off", {}), ("on", knobs))}
    assert present == {"off": False, "on": True}


def test_key_lookup_compares_digests_never_keys(store):
    config = render(settings_with(store, {"proxy_api_keys": True}), TAILNET_IP)
    # Both headers are looked up, each only as the SHA-256 of what the client sent.
    key_map = "map(/Users/admin/.private-ollama/api-keys.map)"
    assert (config.count(key_map), config.count(f",sha2(256),hex,lower,{key_map}")) == (2, 2)


def test_config_holds_no_key_hash(tmp_path):
    store = KeyStore(tmp_path / "api-keys.json")
    digest = key_hash(store.add("alice"))
    assert digest not in render(settings_with(store, {"proxy_api_keys": True}), TAILNET_IP)


def test_revoking_a_key_changes_the_config(store):
    settings = settings_with(store, {"proxy_api_keys": True})
    before = render(settings, TAILNET_IP)
    store.revoke("alice")
    assert render(settings, TAILNET_IP) != before


def test_buffer_size_is_the_knob(store):
    config = render(settings_with(store, {"proxy_buffer_bytes": 1024**2}), TAILNET_IP)
    assert re.findall(r"^\s*tune\.bufsize (\d+)$", config, flags=re.MULTILINE) == [str(1024**2)]


def test_no_knob_opens_another_port_in_the_tailscale_acl(store):
    # The metrics port in particular: it listens on loopback, and no ACL may point at it.
    settings = settings_with(store, {**ALL_ON, "proxy_metrics_port": 9101})
    [rule] = json.loads(tailscale_acl(settings))["acls"]
    assert rule["dst"] == [f"{tag}:{settings.proxy_port}" for tag in settings.tailscale_tags]
