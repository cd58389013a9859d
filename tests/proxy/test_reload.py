"""A config change goes live without dropping a stream: the deploy's own path (the new config checked with
``haproxy -c``, moved into place, SIGUSR2 to the ``-W`` master, what ``launchctl kill SIGUSR2`` sends) lets a
stream that started before it finish in full, and the next request meets the new config."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import time

from operations.haproxy import checked_into_place
from private_ollama.desired_state.settings import Settings
from tests.proxy.haproxy import HAPROXY, render, running_haproxy
from tests.proxy.processes import free_port, wait_until
from tests.proxy.wire import exchange, new_marker, request

TOKENS = 160  # at the stand-in's 25 ms a token: a stream of 4 s, the reload happens inside it
CHAT = b'{"model":"llama3.2","messages":[{"role":"user","content":"hi"}],"stream":false}'


def native_chat_status(proxy) -> int:
    [response] = exchange(proxy.port, request("POST", "/api/chat", proxy.host, new_marker(), CHAT), expect=1)
    return response.status


def test_a_reload_lets_the_stream_in_flight_finish_and_the_next_request_sees_the_new_config(
        haproxy_binary, ollama, tmp_path):
    settings = Settings.from_data({"proxy_port": free_port(), "ollama_port": ollama.port})
    with running_haproxy(settings, tmp_path) as proxy:
        assert native_chat_status(proxy) == 403  # not in the default route sets
        connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=15)
        body = json.dumps({"model": "llama3.2", "stream": True, "max_tokens": TOKENS,
                           "messages": [{"role": "user", "content": "hi"}]})
        connection.request("POST", "/v1/chat/completions", body, {"Host": proxy.host})
        stream = connection.getresponse()
        first = stream.readline()

        # The deploy's path: the new config beside the live one, checked, moved into place, then SIGUSR2.
        reloaded = settings.model_copy(update={"ollama_route_sets": [*settings.ollama_route_sets, "ollama-inference"]})
        candidate = proxy.config.with_name("haproxy.cfg.new")
        candidate.write_text(render(reloaded, "127.0.0.1", str(tmp_path)))
        moved = subprocess.run(["/bin/sh", "-c", checked_into_place(HAPROXY, str(candidate), str(proxy.config))],
                               capture_output=True, text=True, timeout=30, check=False)
        assert moved.returncode == 0 and not candidate.exists(), moved.stderr
        os.kill(proxy.master_pid, signal.SIGUSR2)
        wait_until(lambda: native_chat_status(proxy) == 200, "new connections meet the new config", timeout=10)
        reloaded_at = time.monotonic()

        rest = stream.read()
        ended_at = time.monotonic()
        connection.close()
    lines = [line for line in (first + rest).split(b"\n") if line.startswith(b"data: {")]
    assert len(lines) == TOKENS + 1 and rest.rstrip().endswith(b"data: [DONE]")  # every token, then the end
    assert ended_at - reloaded_at > 0.5  # the old worker went on streaming well after the new config took over


def test_a_config_that_fails_the_check_never_replaces_the_live_one(haproxy_binary, tmp_path):
    live, candidate = tmp_path / "haproxy.cfg", tmp_path / "haproxy.cfg.new"
    live.write_text("the live config\n")
    candidate.write_text("frontend\n    not a keyword\n")
    moved = subprocess.run(["/bin/sh", "-c", checked_into_place(HAPROXY, str(candidate), str(live))],
                           capture_output=True, text=True, timeout=30, check=False)
    assert moved.returncode == 1 and "the live config" in moved.stderr
    assert live.read_text() == "the live config\n" and not candidate.exists()
