"""Fixtures of the proxy suite: the Ollama stand-in and the real HAProxy in front of it.

One stand-in and one HAProxy serve the whole session (both on free loopback
ports, recording and logging under pytest's temporary directory); a test that
needs another proxy (a different allowlist, Ollama down) starts its own with
``tests.proxy.haproxy.running_haproxy``.
"""

from __future__ import annotations

import pytest

from private_ollama.desired_state.settings import Settings
from tests.proxy.haproxy import HAPROXY, Proxy, running_haproxy
from tests.proxy.processes import free_port
from tests.proxy.standin import Standin, load_standin_module, running_standin


@pytest.fixture(scope="session")
def haproxy_binary() -> str:
    if HAPROXY is None:
        pytest.skip("no haproxy binary on PATH or in /usr/sbin (Debian: apt-get install haproxy)")
    return HAPROXY


@pytest.fixture(scope="session")
def standin_module():
    """lab/standins/ollama.py: its route table and fake models."""
    return load_standin_module()


@pytest.fixture(scope="session")
def model_id(standin_module) -> str:
    """A model the stand-in has."""
    return standin_module.MODELS[-1]["name"]


@pytest.fixture(scope="session")
def ollama(tmp_path_factory) -> Standin:
    with running_standin(tmp_path_factory.mktemp("ollama")) as standin:
        yield standin


@pytest.fixture(scope="session")
def proxy(haproxy_binary, ollama, tmp_path_factory) -> Proxy:
    """HAProxy with the default settings (group_data/all.py), in front of the stand-in."""
    settings = Settings.from_data({"proxy_port": free_port(), "ollama_port": ollama.port, "proxy_metrics_port": free_port()})
    with running_haproxy(settings, tmp_path_factory.mktemp("haproxy")) as running:
        yield running
