"""Deploy logic of the hardening knobs against canned facts: a converged Mac
with them on plans nothing; a missing or loose key map, a revoked key, a
leftover map, a loose or oversized access log each plan exactly their repair;
and no planned command holds a key hash."""

import plistlib

import pytest

from private_ollama.desired_state.api_keys import KeyStore, key_hash
from private_ollama.desired_state.files import access_log_path, api_key_map, api_key_map_path
from tests.unit.plan import ConvergedMac, plan, planned_commands

KEY_MAP = "Ensure the files HAProxy reads are installed (error bodies, API key hashes, pool routes), readable by the service only"
HAPROXY_CONFIG = "Ensure the HAProxy allowlist config is valid and live"
HAPROXY_JOB = "Ensure HAProxy runs as a launchd job on the Tailscale address"
LOG_MODE = "Ensure the access log is readable by the service only"
LOG_MAX = 1024 * 1024
LOG_ROTATED = "Ensure the access log is rotated once over proxy_access_log_max_bytes"


@pytest.fixture
def store(tmp_path) -> KeyStore:
    return KeyStore(tmp_path / "api-keys.json")


@pytest.fixture
def keyed_mac(tmp_path, store):
    store.add("alice")
    mac = ConvergedMac(tmp_path / "clients", proxy_api_keys=True, proxy_api_keys_file=str(store.path))
    key_map = api_key_map_path(mac.layout)
    mac.files[key_map], mac.file_modes[key_map] = api_key_map(mac.settings).encode(), 600
    return mac


@pytest.fixture
def logging_mac(tmp_path):
    mac = ConvergedMac(tmp_path / "clients", proxy_access_log=True, proxy_access_log_max_bytes=LOG_MAX)
    log = access_log_path(mac.layout)
    mac.files[log], mac.file_modes[log] = b'{"status":200}\n', 600
    return mac


def test_converged_mac_with_keys_plans_nothing(keyed_mac):
    assert plan(keyed_mac) == []


def test_missing_key_map_is_uploaded_and_no_hash_is_shown(keyed_mac, store):
    del keyed_mac.files[api_key_map_path(keyed_mac.layout)]
    commands = planned_commands(keyed_mac)
    assert list(commands) == [KEY_MAP]
    assert [digest for digest in store.clients().values() if digest in repr(commands)] == []


def test_loose_key_map_mode_is_tightened_without_upload(keyed_mac):
    keyed_mac.file_modes[api_key_map_path(keyed_mac.layout)] = 644
    assert planned_commands(keyed_mac) == {KEY_MAP: [f"chmod 600 {api_key_map_path(keyed_mac.layout)}"]}


def test_revoked_key_replaces_the_map_then_reloads_haproxy(keyed_mac, store):
    bob = store.add("bob")
    keyed_mac.files[api_key_map_path(keyed_mac.layout)] = api_key_map(keyed_mac.settings).encode()
    keyed_mac.files[keyed_mac.layout.haproxy_config] = b"the config of before\n"
    store.revoke("bob")
    commands = planned_commands(keyed_mac)
    assert list(commands) == [KEY_MAP, HAPROXY_CONFIG]
    assert any("launchctl kill SIGUSR2" in command for command in commands[HAPROXY_CONFIG])
    assert key_hash(bob) not in repr(commands)


def test_key_map_left_after_keys_are_turned_off_is_removed(tmp_path):
    mac = ConvergedMac(tmp_path / "clients")
    mac.files[api_key_map_path(mac.layout)] = b"0123 alice\n"
    assert planned_commands(mac) == {KEY_MAP: [f"rm -f {api_key_map_path(mac.layout)}"]}


def test_converged_mac_with_the_access_log_plans_nothing(logging_mac):
    assert plan(logging_mac) == []


def test_access_log_goes_to_its_own_file(logging_mac):
    job = plistlib.loads(logging_mac.files[logging_mac.layout.plist_path("haproxy")])
    assert (job["StandardOutPath"], job["StandardErrorPath"]) == (
        access_log_path(logging_mac.layout), logging_mac.layout.log_path("haproxy"))


def test_loose_access_log_mode_is_tightened(logging_mac):
    logging_mac.file_modes[access_log_path(logging_mac.layout)] = 644
    assert plan(logging_mac) == [LOG_MODE]


def test_access_log_over_its_size_is_copied_then_emptied(logging_mac):
    log = access_log_path(logging_mac.layout)
    logging_mac.files[log] = b"x" * (LOG_MAX + 1)
    [command] = planned_commands(logging_mac)[LOG_ROTATED]
    assert command.index(f"cp -p {log} {log}.1") < command.index(f": > {log}")


def test_turning_the_access_log_on_reloads_the_haproxy_job(tmp_path):
    mac = ConvergedMac(tmp_path / "clients")
    plain_job = mac.files[mac.layout.plist_path("haproxy")]
    logging = ConvergedMac(tmp_path / "clients-logging", proxy_access_log=True)
    logging.files[logging.layout.plist_path("haproxy")] = plain_job
    logging.files[access_log_path(logging.layout)], logging.file_modes[access_log_path(logging.layout)] = b"", 600
    assert plan(logging) == [HAPROXY_JOB]
