"""The access log (proxy_access_log) on the real HAProxy: one JSON line per
request, allowed or refused, with the client's name (API keys on) or address,
and never a key, its hash, the prompt or the query string."""

from __future__ import annotations

import datetime
import json

import pytest

from private_ollama.desired_state.api_keys import KeyStore, key_hash
from private_ollama.desired_state.settings import Settings
from tests.proxy.haproxy import listening, running_haproxy
from tests.proxy.processes import free_port, wait_until
from tests.proxy.wire import exchange, new_marker, request

FIELDS = {"time", "client", "address", "method", "path", "status", "bytes", "duration_ms", "ttfb_ms", "queue_ms",
          "model"}


def log_lines(proxy) -> list[str]:
    """The access log lines: HAProxy's stdout (JSON) shares the test log with its stderr (text)."""
    return [line for line in proxy.log.read_text().splitlines() if line.startswith("{")]


def logged(proxy, raw: bytes) -> list[str]:
    """Send ``raw``; the log lines it added (HAProxy writes one when the request ends)."""
    before = len(log_lines(proxy))
    exchange(proxy.port, raw, expect=1)
    wait_until(lambda: len(log_lines(proxy)) > before, "the access log line is written", 5)
    return log_lines(proxy)[before:]


@pytest.fixture(scope="module")
def key(tmp_path_factory) -> tuple[KeyStore, str]:
    store = KeyStore(tmp_path_factory.mktemp("keys") / "api-keys.json")
    return store, store.add("alice")


@pytest.fixture(scope="module", params=["with API keys", "without API keys"])
def logging_proxy(request, haproxy_binary, ollama, key, tmp_path_factory):
    store, _ = key
    keys = {"proxy_api_keys": True, "proxy_api_keys_file": str(store.path)} if request.param == "with API keys" else {}
    settings = Settings.from_data({"proxy_port": free_port(), "ollama_port": ollama.port, "proxy_access_log": True, **keys})
    with running_haproxy(settings, tmp_path_factory.mktemp("logging"), ready=listening) as proxy:
        yield proxy


def chat_request(proxy, key: str, prompt: str = "hi", target: str = "/v1/messages?beta=true") -> bytes:
    body = json.dumps({"model": "llama3.2:latest", "max_tokens": 3, "stream": True,
                       "messages": [{"role": "user", "content": prompt}]}).encode()
    return request("POST", target, proxy.host, new_marker(), body, headers=(f"x-api-key: {key}",))


def test_one_json_line_per_request_with_every_field(logging_proxy, key):
    [line] = logged(logging_proxy, chat_request(logging_proxy, key[1]))
    entry = json.loads(line)
    assert set(entry) == FIELDS
    assert (entry["method"], entry["path"], entry["status"], entry["model"]) == (
        "POST", "/v1/messages", 200, "llama3.2:latest")


def test_unknown_model_is_a_dash(logging_proxy, key):
    raw = request("GET", "/api/tags", logging_proxy.host, new_marker(), headers=(f"x-api-key: {key[1]}",))
    [line] = logged(logging_proxy, raw)
    assert json.loads(line)["model"] == "-"


def test_times_are_utc_and_durations_cover_the_stream(logging_proxy, key):
    [line] = logged(logging_proxy, chat_request(logging_proxy, key[1]))
    entry = json.loads(line)
    written = datetime.datetime.strptime(entry["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    assert abs(datetime.datetime.now(datetime.UTC) - written) < datetime.timedelta(seconds=10)
    assert 0 <= entry["ttfb_ms"] <= entry["duration_ms"] and entry["bytes"] > 0


def test_the_client_is_named_by_its_key_or_its_address(logging_proxy, key):
    [line] = logged(logging_proxy, chat_request(logging_proxy, key[1]))
    expected = "alice" if logging_proxy.settings.proxy_api_keys else "127.0.0.1"
    assert json.loads(line)["client"] == expected


def test_no_key_hash_prompt_or_query_is_logged(logging_proxy, key):
    prompt = new_marker()
    [line] = logged(logging_proxy, chat_request(logging_proxy, key[1], prompt, "/v1/messages?token=" + prompt))
    secrets = {"the key": key[1], "its hash": key_hash(key[1]), "the prompt or query": prompt}
    assert [name for name, secret in secrets.items() if secret in line] == []


@pytest.mark.parametrize(("target", "status"), [("/api/pull", 403), ('/a"b\\c\x7e%00', 403)],
                         ids=["denied route", "hostile path"])
def test_refused_requests_are_logged_as_valid_json(logging_proxy, key, target, status):
    raw = request("POST", target, logging_proxy.host, new_marker(), b"{}", headers=(f"x-api-key: {key[1]}",))
    [line] = logged(logging_proxy, raw)
    assert (json.loads(line)["path"], json.loads(line)["status"]) == (target, status)


def test_malformed_request_is_logged_as_valid_json(logging_proxy):
    [line] = logged(logging_proxy, b"NOT HTTP AT ALL\r\n\r\n")
    assert {key: json.loads(line)[key] for key in ("status", "path", "model")} == {"status": 400, "path": "-", "model": "-"}


@pytest.mark.parametrize("logging_proxy", ["with API keys"], indirect=True)
def test_request_without_a_key_is_logged_without_a_client(logging_proxy):
    [line] = logged(logging_proxy, request("GET", "/api/tags", logging_proxy.host, new_marker()))
    assert (json.loads(line)["client"], json.loads(line)["status"]) == ("-", 401)


def test_without_the_access_log_nothing_is_logged_per_request(proxy):
    exchange(proxy.port, request("GET", "/api/tags", proxy.host, new_marker()), expect=1)
    assert log_lines(proxy) == []
