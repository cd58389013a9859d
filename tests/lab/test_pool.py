"""Three lab Macs in one tailnet as one pool (`labctl up --hosts 3`), end to end from the tailnet client, in
order: one apply converges the pool; a model only B holds, asked of A, is served by B's Ollama (each Mac's
Ollama stand-in records what reaches it) with the client named in B's access log; a model A and C hold is
spread over both; a stream crosses the hop unbuffered; every member lists the union; denied routes and
forged pool headers reach no member's Ollama; B's proxy stopped, its model gets 503 at once and the others
go on, B back is served again within the health check's interval; with keys on, a key works at every member
and, revoked and applied, at none.

The pool's data (tests' inventory): A = lab-mac-1 holds llama3.2; B = lab-mac-2 qwen2.5-coder:7b;
C = lab-mac-3 llama3.2 and nomic-embed-text. Ollama answers with one token every 20 ms, as many as asked.
"""

from __future__ import annotations

import json
import time
from itertools import pairwise
from pathlib import Path

import pytest

from private_ollama.desired_state.api_keys import KeyStore
from tests.lab.conftest import changed, started_lab
from tests.proxy.refusals import expected_body
from tests.proxy.wire import MARKER_HEADER, new_marker

pytestmark = pytest.mark.lab

MODELS = {"lab-mac-1": ["llama3.2"], "lab-mac-2": ["qwen2.5-coder:7b"], "lab-mac-3": ["llama3.2", "nomic-embed-text"]}
UNION = ["llama3.2:latest", "nomic-embed-text:latest", "qwen2.5-coder:7b"]
RECORD = "~/.ollama/standin-requests.jsonl"  # the lab Ollama's record of every request it received
ACCESS_LOG = "~/Library/Logs/private-ollama/access.log"
HAPROXY_JOB = "gui/501/org.private-ollama.haproxy"
HAPROXY_PLIST = "/Users/admin/Library/LaunchAgents/org.private-ollama.haproxy.plist"
HEALTH_CHECK_S = 10  # the pool's check interval while a member is up (README: every 10 s, every 2 s while failing)


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """The 3-Mac lab and the inventory that makes its Macs one pool."""
    for lab in started_lab("lab-pool", hosts=3):
        inventory = tmp_path_factory.mktemp("pool") / "inventory.py"
        inventory.write_text(
            "from private_ollama.inventory import lab_hosts\n\n"
            f"MODELS = {MODELS!r}\n"
            "macs = [(name, {**data, 'proxy_pool': 'lab', 'proxy_buffer_bytes': 1048576, 'proxy_access_log': True,\n"
            "                'ollama_models': MODELS[name], 'ollama_extra_env': {'OLLAMA_STANDIN_RUN_TO_LIMIT': '1',\n"
            "                'OLLAMA_STANDIN_CHUNK_INTERVAL_MS': '20'}})\n"
            "        for name, data in lab_hosts()]\n")
        lab.inventory = str(inventory)
        yield lab


def address(pool, index: int) -> str:
    return pool.info["hosts"][index]["tailscale_ip"]


def on(pool, index: int, command: str) -> str:
    """``command`` on Mac ``index`` (0 = A) over SSH, as the admin."""
    return pool._run(["ssh", "-F", pool.info["ssh_config"], pool.info["hosts"][index]["name"], command]).stdout


def reached(pool, marker: str) -> list[int]:
    """How many requests carrying ``marker`` each Mac's Ollama received (A, B, C)."""
    return [int(on(pool, index, f"grep -c -- {marker} {RECORD} || true").strip() or 0) for index in range(3)]


def access_log(pool, index: int) -> list[dict]:
    """The last requests in Mac ``index``'s access log (one JSON object per line)."""
    return [json.loads(line) for line in on(pool, index, f"tail -n 40 {ACCESS_LOG}").splitlines() if line.startswith("{")]


def chat(pool, index: int, model: str, marker: str, tokens: int = 5, headers: dict | None = None) -> tuple[int, str]:
    body = {"model": model, "max_tokens": tokens, "messages": [{"role": "user", "content": "hi"}]}
    return pool.curl("POST", "/v1/chat/completions", host=address(pool, index), body=json.dumps(body),
                     headers={MARKER_HEADER: marker, **(headers or {})})


def deploy(pool, *args: str) -> dict:
    run = pool.deploy("--json", *args, inventory=pool.inventory)
    assert run.rc == 0, run.output[-3000:]
    return run.json()["results"]


def test_one_apply_converges_the_pool_and_a_second_changes_nothing(pool):
    deploy(pool)
    assert changed(deploy(pool)) == []
    drift = pool.drift(inventory=pool.inventory)
    assert drift.rc == 0, drift.output


def test_a_model_only_b_holds_asked_of_a_is_served_by_b_naming_the_client(pool):
    marker = new_marker()
    status, body = chat(pool, 0, "qwen2.5-coder:7b", marker)
    assert status == 200 and json.loads(body)["model"] == "qwen2.5-coder:7b", body
    assert reached(pool, marker) == [0, 1, 0]
    served = access_log(pool, 1)
    hop = [entry for entry in served if entry["address"] == address(pool, 0) and entry["path"] == "/v1/chat/completions"]
    assert hop and hop[-1]["client"] == pool.info["client_tailscale_ip"], served


def test_a_model_a_and_c_hold_is_spread_over_both_under_concurrency(pool):
    marker = new_marker()
    body = json.dumps({"model": "llama3.2", "max_tokens": 25, "messages": [{"role": "user", "content": "hi"}]})
    asked = pool.client("sh", "-c", " ".join(
        f"curl -s -o /dev/null -w '%{{http_code}}\\n' -m 30 -H 'Content-Type: application/json' "
        f"-H '{MARKER_HEADER}: {marker}' -d '{body}' http://{address(pool, 0)}:11434/v1/chat/completions &"
        for _ in range(16)) + " wait")
    assert asked.stdout.split() == ["200"] * 16, asked.output
    a, b, c = reached(pool, marker)
    assert a + c == 16 and b == 0 and a > 0 and c > 0, (a, b, c)


STREAM = """
import http.client, json, sys, time
connection = http.client.HTTPConnection(sys.argv[1], 11434, timeout=30)
body = json.dumps({"model": "qwen2.5-coder:7b", "stream": True, "max_tokens": 40,
                   "messages": [{"role": "user", "content": "hi"}]})
start = time.monotonic()
connection.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
response = connection.getresponse()
times = [time.monotonic() - start for line in iter(response.readline, b"") if line.startswith(b"data: {")]
print(json.dumps(times))
"""


def test_a_stream_through_a_hop_arrives_as_it_is_made(pool):
    """40 tokens, one every 20 ms, from B's Ollama through A and B: they arrive spread over the answer's time."""
    run = pool.client("python3", "-c", STREAM, address(pool, 0))
    times = json.loads(run.stdout)
    assert len(times) >= 40, run.output
    assert times[-1] >= 0.6 and times[0] < times[-1] / 4, times
    assert sum(later - earlier > 0.01 for earlier, later in pairwise(times)) >= 30, times


@pytest.mark.parametrize("path", ["/api/tags", "/v1/models"])
def test_every_member_lists_the_pools_models_once(pool, path):
    for index in range(3):
        status, body = pool.curl("GET", path, host=address(pool, index))
        listed = json.loads(body)
        names = [entry["name"] for entry in listed["models"]] if path == "/api/tags" else [
            entry["id"] for entry in listed["data"]]
        assert status == 200 and names == UNION, (index, body)


@pytest.mark.parametrize(("method", "path", "headers"), [
    ("POST", "/api/pull", {}),
    ("DELETE", "/api/delete", {}),
    ("POST", "/api/chat", {}),
    ("POST", "/v1/models/../../api/create", {}),
    ("POST", "/v1/chat/completions", {"X-Private-Ollama-Hop": "1"}),  # a client claiming to be a member
    ("POST", "/v1/chat/completions", {"X-Private-Ollama-Client": "alice"}),
])
def test_denied_requests_reach_no_members_ollama(pool, method, path, headers):
    marker = new_marker()
    body = json.dumps({"model": "qwen2.5-coder:7b", "name": "qwen2.5-coder:7b",
                       "messages": [{"role": "user", "content": "hi"}]})
    for index in range(3):
        status, answer = pool.curl(method, path, host=address(pool, index), body=body,
                                   headers={MARKER_HEADER: marker, **headers})
        assert status == 403, (index, status, answer)
    assert reached(pool, marker) == [0, 0, 0]


def test_a_body_ollama_would_read_as_another_model_is_refused_at_every_member(pool):
    # The first "model" is llama3.2 (A and C), the last, which Ollama's Go decoder takes, B's qwen2.5-coder:7b.
    marker = new_marker()
    body = '{"model":"llama3.2","messages":[{"role":"user","content":"hi"}],"model":"qwen2.5-coder:7b"}'
    for index in range(3):
        status, answer = pool.curl("POST", "/v1/chat/completions", host=address(pool, index), body=body,
                                   headers={MARKER_HEADER: marker})
        assert (status, json.loads(answer)) == (400, expected_body("model_not_checkable", "/v1/chat/completions"))
    assert reached(pool, marker) == [0, 0, 0]


def test_names_too_many_for_haproxy_stop_the_apply_in_preflight_and_the_pool_serves_on(pool, tmp_path):
    allowed = UNION + [f"hf.co/example/model-{index:04d}:Q4_K_M" for index in range(600)]
    inventory = tmp_path / "inventory.py"
    inventory.write_text(Path(pool.inventory).read_text().replace(
        "'proxy_pool': 'lab',", f"'proxy_pool': 'lab', 'ollama_allowed_models': {allowed!r},"))
    run = pool.deploy(inventory=str(inventory))
    assert run.rc != 0, run.output[-2000:]
    assert "nothing was changed" in run.output and "HAProxy reads at most 16382: declare fewer models" in run.output
    marker = new_marker()
    assert chat(pool, 0, "qwen2.5-coder:7b", marker)[0] == 200
    assert reached(pool, marker) == [0, 1, 0]


def test_b_stopped_its_model_gets_503_at_once_and_b_back_is_served_again_within_the_check_interval(pool):
    assert pool._run(["ssh", "-F", pool.info["ssh_config"], "lab-mac-2", f"launchctl bootout {HAPROXY_JOB}"]).rc == 0
    try:
        started = time.monotonic()
        status, body = chat(pool, 0, "qwen2.5-coder:7b", new_marker())
        assert status == 503 and "qwen2.5-coder:7b" in body, body
        assert time.monotonic() - started < 5  # at once: a refused connection, not a timeout
        assert chat(pool, 0, "llama3.2", new_marker())[0] == 200
        assert chat(pool, 2, "nomic-embed-text", new_marker())[0] != 503
    finally:
        back = pool._run(["ssh", "-F", pool.info["ssh_config"], "lab-mac-2",
                          f"launchctl bootstrap gui/501 {HAPROXY_PLIST}"])
        assert back.rc == 0, back.output
    started = time.monotonic()
    pool.wait(lambda: chat(pool, 0, "qwen2.5-coder:7b", new_marker())[0] == 200, "B served again",
              timeout=3 * HEALTH_CHECK_S)
    assert time.monotonic() - started <= HEALTH_CHECK_S + 3


def test_with_keys_a_key_works_at_every_member_and_revoked_at_none(pool, tmp_path):
    store = KeyStore(tmp_path / "api-keys.json")
    key, other = str(store.add("alice")), str(store.add("bob"))
    keys = ("--data", "proxy_api_keys=true", "--data", f"proxy_api_keys_file={store.path}")
    deploy(pool, *keys)
    for index in range(3):
        for model in ("qwen2.5-coder:7b", "llama3.2"):
            status, body = chat(pool, index, model, new_marker(), headers={"Authorization": f"Bearer {key}"})
            assert status == 200, (index, model, body)
        assert chat(pool, index, "llama3.2", new_marker())[0] == 401
    served = access_log(pool, 1)
    assert any(entry["client"] == "alice" and entry["address"] != pool.info["client_tailscale_ip"] for entry in served)

    store.revoke("alice")
    deploy(pool, *keys)
    for index in range(3):
        for model in ("qwen2.5-coder:7b", "llama3.2"):
            assert chat(pool, index, model, new_marker(), headers={"Authorization": f"Bearer {key}"})[0] == 401
        assert chat(pool, index, "qwen2.5-coder:7b", new_marker(), headers={"Authorization": f"Bearer {other}"})[0] == 200
