"""End to end on this module's own lab Mac, in order: the hardening knobs go on
by data and one apply, a second apply and the drift check find nothing to do;
from the tailnet client a request needs a known key, an unlisted model is
refused, the metrics port is unreachable; the access log names the client and
the status command reports it; a key added or revoked in the store takes effect at the
next apply (planned, then applied, at full verbosity); the knobs go off again;
and no key or key hash ever shows in any output.

The knobs are the lab host's inventory data (lab.json), so the deploy, the
drift check and the status command all read them, as they would a real inventory.
"""

from __future__ import annotations

import json
import sys

import pytest

from private_ollama.desired_state.api_keys import KeyStore, key_hash
from tests.lab.conftest import changed

pytestmark = pytest.mark.lab

KEY_MAP = "Ensure the files HAProxy reads are installed (error bodies, API key hashes, pool routes), readable by the service only"
HAPROXY_CONFIG = "Ensure the HAProxy allowlist config is valid and live"
HAPROXY_JOB = "Ensure HAProxy runs as a launchd job on the Tailscale address"
MAP_ON_MAC = "/Users/admin/.private-ollama/api-keys.map"
ACCESS_LOG = "/Users/admin/Library/Logs/private-ollama/access.log"
METRICS_PORT = 9101
ALLOWED, OTHER = "llama3.2", "qwen2.5-coder:32b"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> KeyStore:
    # Outside the project: nothing under build/ may hold a key hash.
    return KeyStore(tmp_path_factory.mktemp("keys") / "api-keys.json")


@pytest.fixture(scope="module")
def keys(store) -> dict:
    return {name: store.add(name) for name in ("alice", "bob")}


def set_knobs(lab, knobs: dict) -> None:
    """Make ``knobs`` the lab Mac's inventory data (over the defaults)."""
    lab_json = lab.state_dir / "lab.json"
    info = json.loads(lab_json.read_text())
    info["hosts"][0]["data"] = {"tailscale_hostname": info["hosts"][0]["data"]["tailscale_hostname"], **knobs}
    lab_json.write_text(json.dumps(info))


def hardened(store: KeyStore) -> dict:
    return {
        "proxy_api_keys": True, "proxy_api_keys_file": str(store.path), "ollama_allowed_models": [ALLOWED],
        "proxy_buffer_bytes": 1024 * 1024, "proxy_access_log": True, "proxy_metrics_port": METRICS_PORT,
        "proxy_rate_limit_requests": 600, "proxy_client_max_concurrent": 8, "proxy_ollama_max_concurrent": 4,
    }


def ask(lab, path: str = "/api/tags", key: str | None = None, header: str = "x-api-key: {key}",
        body: dict | None = None, port: int = 11434) -> int:
    """The status of a request from the tailnet client (0: refused or no answer)."""
    argv = ["curl", "-s", "-o", "/dev/null", "-m", "10", "-w", "%{http_code}"]
    argv += ["-H", header.format(key=key)] if key else []
    argv += ["-H", "Content-Type: application/json", "-d", json.dumps(body)] if body else []
    run = lab.client(*argv, f"http://{lab.host['tailscale_ip']}:{port}{path}")
    return int(run.stdout or 0)


def chat(model: str) -> dict:
    return {"model": model, "stream": False, "messages": [{"role": "user", "content": "hi"}]}


def test_without_the_knobs_no_key_is_needed(lab):
    assert lab.deploy().rc == 0
    assert ask(lab) == 200


def test_turning_the_knobs_on_is_one_apply(lab, store, keys):
    set_knobs(lab, hardened(store))
    assert {KEY_MAP, HAPROXY_CONFIG, HAPROXY_JOB} <= set(changed(lab.apply_json()))


def test_second_apply_with_the_knobs_on_changes_nothing(lab):
    assert changed(lab.apply_json()) == []
    assert lab.drift().rc == 0


@pytest.mark.parametrize("header", ["x-api-key: {key}", "Authorization: Bearer {key}"])
def test_known_key_works_from_the_tailnet(lab, keys, header):
    assert ask(lab, key=keys["alice"], header=header) == 200


@pytest.mark.parametrize("key", [None, "po_not-a-key-at-all"], ids=["no key", "unknown key"])
def test_request_without_a_known_key_gets_401_from_the_tailnet(lab, key):
    assert ask(lab, key=key) == 401


@pytest.mark.parametrize(("model", "status"), [(ALLOWED, 200), (OTHER, 403)])
def test_only_listed_models_are_served(lab, keys, model, status):
    assert ask(lab, "/v1/chat/completions", keys["alice"], body=chat(model)) == status


def test_metrics_are_unreachable_from_the_tailnet(lab):
    assert ask(lab, "/metrics", port=METRICS_PORT) == 0


def test_metrics_are_served_on_the_macs_loopback(lab):
    run = lab.ssh(f"curl -s -o /dev/null -w '%{{http_code}}' http://127.0.0.1:{METRICS_PORT}/metrics")
    assert run.stdout == "200"


def test_the_mac_holds_hashes_in_a_private_file_and_no_key(lab, keys):
    assert lab.ssh(f"stat -f %Lp {MAP_ON_MAC}").stdout.strip() == "600"
    assert lab.ssh(f"grep -c . {MAP_ON_MAC}").stdout.strip() == str(len(keys))
    found = [name for name, key in keys.items() if lab.ssh(f"grep -rqF -- {key} /Users/admin").rc == 0]
    assert found == []


def test_access_log_names_the_client(lab, keys):
    ask(lab, "/v1/chat/completions", keys["alice"], body=chat(ALLOWED))
    last = json.loads(lab.ssh(f"tail -n 1 {ACCESS_LOG}").stdout)
    assert (last["client"], last["path"], last["model"], last["status"]) == ("alice", "/v1/chat/completions", ALLOWED, 200)


def test_status_reports_each_clients_requests(lab, keys):
    ask(lab, key=keys["bob"])
    run = lab._run([sys.executable, "-m", "private_ollama", "status", "--inventory", "lab/inventory.py", "--json"])
    assert run.rc == 0, run.output[-2000:]
    [status] = run.json()["hosts"].values()
    assert {"alice", "bob", "-"} <= {row["client"] for row in status["clients"]}
    assert set(status["ollama"]) == {"in_progress", "queued"}


def test_a_new_key_is_planned_then_works_after_the_apply(lab, store, keys):
    keys["carol"] = store.add("carol")
    # Not lab.deploy: its -y would skip the change detection a dry run is for.
    planned = lab._run([sys.executable, "-m", "pyinfra", "lab/inventory.py", "deploy.py", "--dry", "-vvv", "--diff"])
    assert planned.rc == 0 and KEY_MAP in planned.output
    assert f"drifted: {KEY_MAP}" in lab.drift().stdout
    assert ask(lab, key=keys["carol"]) == 401
    assert lab.deploy("-vvv", "--diff").rc == 0
    assert ask(lab, key=keys["carol"]) == 200


def test_a_revoked_key_stops_working_after_the_apply(lab, store, keys):
    store.revoke("bob")
    assert {KEY_MAP, HAPROXY_CONFIG} <= set(changed(lab.apply_json("-vvv", "--diff")))
    assert (ask(lab, key=keys["bob"]), ask(lab, key=keys["alice"])) == (401, 200)


def test_turning_the_knobs_off_restores_open_access(lab):
    set_knobs(lab, {})
    assert KEY_MAP in changed(lab.apply_json())  # the key hashes removed
    assert (ask(lab), lab.ssh(f"test -e {MAP_ON_MAC}").rc) == (200, 1)


def test_no_key_or_key_hash_appears_in_any_output(lab, keys):
    secrets = {f"{name}'s {kind}": value for name, key in keys.items()
               for kind, value in (("key", key), ("hash", key_hash(key)), ("HASH", key_hash(key).upper()))}
    leaks = [(what, index) for what, value in secrets.items() for index, output in enumerate(lab.outputs)
             if value in output]
    assert leaks == []
