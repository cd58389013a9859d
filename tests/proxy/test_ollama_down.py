"""Ollama down: clients get an immediate 503 with a JSON body, never a hang or a retry loop."""

from __future__ import annotations

import http.client
import time

import pytest

from private_ollama.desired_state.settings import Settings
from tests.proxy.haproxy import running_haproxy
from tests.proxy.processes import free_port, stop
from tests.proxy.refusals import assert_refused
from tests.proxy.standin import running_standin
from tests.proxy.wire import exchange, new_marker, request


def marked_down(proxy) -> bool:
    """Whether HAProxy's metrics say its health check found Ollama down."""
    connection = http.client.HTTPConnection("127.0.0.1", proxy.settings.proxy_metrics_port, timeout=2)
    try:
        connection.request("GET", "/metrics")
        metrics = connection.getresponse().read().decode()
    except OSError:
        return False
    finally:
        connection.close()
    return 'haproxy_server_status{proxy="ollama",server="ollama",state="DOWN"} 1' in metrics


@pytest.fixture(scope="module", params=["marked down by the health check", "refusing connections while marked up"])
def proxy_without_ollama(request, haproxy_binary, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("ollama-down")
    ports = {"proxy_port": free_port(), "proxy_metrics_port": free_port()}
    if request.param.startswith("marked down"):
        settings = Settings.from_data({**ports, "ollama_port": free_port()})  # nothing listens there
        with running_haproxy(settings, workdir, ready=marked_down) as proxy:
            yield proxy
    else:
        with running_standin(workdir / "ollama") as ollama:
            settings = Settings.from_data({**ports, "ollama_port": ollama.port})
            with running_haproxy(settings, workdir / "haproxy") as proxy:
                stop(ollama.process)  # the next health check is far off: HAProxy still thinks it is up
                yield proxy


def ask(proxy) -> tuple[float, object]:
    started = time.monotonic()
    [response] = exchange(proxy.port, request("GET", "/api/tags", proxy.host, new_marker()), expect=1)
    return time.monotonic() - started, response


def test_client_gets_a_json_503(proxy_without_ollama):
    _, response = ask(proxy_without_ollama)
    assert (response.status, response.headers["content-type"]) == (503, "application/json")
    assert response.json() == {"error": "ollama is unavailable"}


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/chat/completions", "/api/show"])
def test_the_503_is_in_the_dialect_and_says_when_to_retry(proxy_without_ollama, path):
    body = b'{"model":"llama3.2","messages":[],"max_tokens":1}'
    [response] = exchange(proxy_without_ollama.port, request("POST", path, proxy_without_ollama.host, new_marker(),
                                                             body), expect=1)
    assert_refused(response, "ollama_unavailable", path)
    assert response.headers["retry-after"] == "2"  # the health check looks again every 2 s while Ollama is down


def test_client_gets_the_answer_within_a_second(proxy_without_ollama):
    elapsed, _ = ask(proxy_without_ollama)
    assert elapsed < 1.0
