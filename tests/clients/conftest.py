"""Fixtures of the client suite: the real client libraries, through the real HAProxy running the
rendered config, in front of the lab's Ollama stand-in.

The stand-in and HAProxy fixtures are tests/proxy's, imported here rather than copied: ``ollama`` is
a session stand-in, ``haproxy_binary`` fails (or skips) as there. Each knob combination is one HAProxy
per module that uses it: ``default_proxy`` (the default route sets), ``full_proxy`` (every route set
on); the proxies with keys or limits are their modules' own (test_api_keys.py, test_rate_limit.py).

LiteLLM must run offline: these variables, set (for the whole pytest process) before any test module
imports it, keep it from fetching its model cost map and beta-header lists (test_litellm.py proves it
then connects nowhere beyond loopback).
"""

from __future__ import annotations

import os

import pytest

from tests.clients.servers import ALL_ROUTE_SETS, proxy_with
from tests.proxy import conftest as proxy_suite

# tests/proxy's fixtures, the same functions: pytest finds a fixture by its name in a conftest.
haproxy_binary, ollama = proxy_suite.haproxy_binary, proxy_suite.ollama
standin_module, model_id = proxy_suite.standin_module, proxy_suite.model_id  # a model the stand-in has

LITELLM_OFFLINE = {"LITELLM_OFFLINE_MODE": "true", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                   "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "true"}
os.environ.update(LITELLM_OFFLINE)
# LiteLLM waits 6000 s for an answer by default: a stalled request should fail the test, not the run.
os.environ["REQUEST_TIMEOUT"] = "60"


@pytest.fixture(scope="module")
def default_proxy(haproxy_binary, ollama, tmp_path_factory):
    """HAProxy with the default route sets: openai, anthropic, ollama-metadata."""
    with proxy_with(ollama.port, tmp_path_factory.mktemp("default")) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def full_proxy(haproxy_binary, ollama, tmp_path_factory):
    """HAProxy with every route set on (ollama-inference and embeddings too)."""
    with proxy_with(ollama.port, tmp_path_factory.mktemp("full"), ollama_route_sets=ALL_ROUTE_SETS) as proxy:
        yield proxy
