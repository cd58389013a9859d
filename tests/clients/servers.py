"""The servers a client test talks to, and what they saw.

.. code:: python

    with proxy_with(ollama.port, tmp_path, ollama_route_sets=ALL_ROUTE_SETS) as proxy:
        with recipe_settings("openai-sdk", proxy):
            client = openai.OpenAI()             # built from the recipe's variables
        client.models.list(extra_headers=marked(marker := new_marker()))  # tests.proxy.wire.new_marker
        reached(ollama, marker)                  # ['GET /v1/models']
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from private_ollama.desired_state.clients import RECIPES, Recipe
from private_ollama.desired_state.routes import ROUTE_SETS
from private_ollama.desired_state.settings import Settings
from tests.proxy.haproxy import Proxy, forwards, listening, running_haproxy
from tests.proxy.processes import free_port, wait_until
from tests.proxy.standin import Standin
from tests.proxy.wire import MARKER_HEADER

ALL_ROUTE_SETS = list(ROUTE_SETS)
# Every variable a recipe sets, and the others these libraries read: a test's environment holds only its recipe's.
CLIENT_VARIABLES = sorted({name for recipe in RECIPES.values() for name, _ in recipe.env + recipe.key_env} | {
    "OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENAI_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_API_BASE",
    "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "OLLAMA_HOST", "OLLAMA_API_BASE", "OLLAMA_API_KEY",
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"})


@contextmanager
def proxy_with(ollama_port: int, workdir: Path, **knobs: object) -> Iterator[Proxy]:
    """The real HAProxy with these knobs over the defaults, in front of whatever listens on ``ollama_port``
    (the stand-in's port, or nothing); yielded once it accepts connections, and forwards when it can."""
    settings = Settings.from_data({"proxy_port": free_port(), "ollama_port": ollama_port, **knobs})
    # The readiness probe is a request: not with keys, nor with limits (it would count), nor without its route.
    can_forward = (not settings.proxy_api_keys and not settings.client_limits
                   and "ollama-metadata" in settings.ollama_route_sets)
    ready = forwards if can_forward and listening_on(ollama_port) else listening
    with running_haproxy(settings, workdir, ready=ready) as proxy:
        yield proxy


def listening_on(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def server_url(proxy: Proxy | Standin) -> str:
    """The server as a client names it: what the client settings file calls http://<name>:<port>
    (the stand-in's own address, for a test that looks at what a library sends)."""
    return f"http://127.0.0.1:{proxy.port}"


@contextmanager
def clean_environment() -> Iterator[pytest.MonkeyPatch]:
    """A process environment with none of the variables these libraries read; restored on exit."""
    with pytest.MonkeyPatch.context() as patch:
        for variable in CLIENT_VARIABLES:
            patch.delenv(variable, raising=False)
        yield patch


@contextmanager
def recipe_settings(name: str, proxy: Proxy | Standin, key: str | None = None, model: str = "llama3.2") -> Iterator[Recipe]:
    """A process environment holding the variables of recipe ``name`` for ``proxy`` (with ``key`` when the
    proxy asks for one) and no other client's; restored on exit."""
    recipe = RECIPES[name]
    with clean_environment() as patch:
        for variable, value in recipe.environment(server_url(proxy), key, model).items():
            patch.setenv(variable, value)
        yield recipe


def marked(marker: str) -> dict[str, str]:
    """Extra headers that let the stand-in's record tell this request from the others."""
    return {MARKER_HEADER: marker}


def reached(ollama: Standin, marker: str) -> list[str]:
    """``METHOD target`` of each request carrying ``marker`` that reached Ollama."""
    return [f"{seen['method']} {seen['target']}" for seen in ollama.record.with_marker(marker)]


def access_log(proxy: Proxy) -> list[dict]:
    """The proxy's access log: HAProxy's stdout (JSON lines) shares its log file with its stderr (text)."""
    return [json.loads(line) for line in proxy.log.read_text().splitlines() if line.startswith("{")]


def requests_logged(proxy: Proxy, before: int, path: str, settle: float = 0.5) -> list[dict]:
    """The access log entries for ``path`` after its first ``before`` lines, once there is one and ``settle``
    seconds pass without another: the SDKs raise only after their last try, and HAProxy logs each
    request as it ends, so by then every try is in the log."""
    def entries() -> list[dict]:
        return [entry for entry in access_log(proxy)[before:] if entry["path"] == path]

    wait_until(lambda: bool(entries()), f"the access log shows a request for {path}", 5)
    while True:
        count = len(entries())
        time.sleep(settle)
        if len(entries()) == count:
            return entries()
