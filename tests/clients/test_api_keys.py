"""API keys on (proxy_api_keys), with the real libraries and their recipes' variables: each sends its key
the way it does by itself (``Authorization: Bearer`` from the OpenAI SDK, the Anthropic SDK, Claude
Code's variables, the ``ollama`` client and LiteLLM's Ollama prefixes; ``x-api-key`` from LiteLLM's
``anthropic/`` and from the Anthropic SDK given it as a default header), and a known key passes with
the client named in the access log. A wrong key raises each library's exception naming the reason
("missing or invalid API key"), after exactly one request: the access log, which HAProxy writes per
request, counts what reached the proxy with each SDK's default retry settings; the same count sees an
SDK's retries of a 503.

Keys never appear in an assertion's expression: a failing test would print them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import anthropic
import litellm
import openai
import pytest
from ollama import Client

from private_ollama.desired_state.api_keys import KeyStore
from private_ollama.desired_state.refusals import REFUSALS
from tests.clients.asks import ANSWER, CHAT, TOKENS
from tests.clients.servers import (
    ALL_ROUTE_SETS,
    access_log,
    clean_environment,
    marked,
    proxy_with,
    recipe_settings,
    requests_logged,
    server_url,
)
from tests.proxy.processes import free_port
from tests.proxy.wire import new_marker

litellm.suppress_debug_info = True
pytestmark = pytest.mark.filterwarnings("ignore:Items? .* `ReadOnly` qualifier:UserWarning")  # LiteLLM's types
INVALID_KEY = REFUSALS["invalid_api_key"]
WRONG_KEY = "po_" + "A" * 43  # a well-formed key the store does not know


@dataclass(frozen=True)
class Use:
    """One library asking with a key: ``ask(server, key, model, headers)`` returns the answer's text."""

    ask: Callable[..., str]
    path: str  # the route it asks, as the access log names it
    header: str  # the header its key goes in


def _openai_sdk(server, key, model, headers):
    with recipe_settings("openai-sdk", server, key):
        client = openai.OpenAI()
    reply = client.chat.completions.create(model=model, messages=CHAT, max_tokens=TOKENS, extra_headers=headers)
    return reply.choices[0].message.content


def _anthropic(recipe: str) -> Callable[..., str]:
    def ask(server, key, model, headers):
        with recipe_settings(recipe, server, key):
            client = anthropic.Anthropic()
        return client.messages.create(model=model, max_tokens=TOKENS, messages=CHAT,
                                      extra_headers=headers).content[0].text
    return ask


def _anthropic_x_api_key(server, key, model, headers):
    """The Anthropic SDK with no api_key, its key as a default ``x-api-key`` header."""
    with clean_environment():
        client = anthropic.Anthropic(base_url=server_url(server), default_headers={"x-api-key": key})
    return client.messages.create(model=model, max_tokens=TOKENS, messages=CHAT, extra_headers=headers).content[0].text


def _litellm(recipe: str) -> Callable[..., str]:
    def ask(server, key, model, headers):
        with recipe_settings(recipe, server, key) as settings:
            reply = litellm.completion(model=settings.model_name(model), messages=CHAT, max_tokens=TOKENS,
                                       extra_headers=headers)
        return reply.choices[0].message.content
    return ask


def _ollama_client(server, key, model, headers):
    with recipe_settings("ollama-client", server, key):
        client = Client(headers=headers)
    return client.chat(model=model, messages=CHAT, options={"num_predict": TOKENS}).message.content


USES = {
    "OpenAI SDK": Use(_openai_sdk, "/v1/chat/completions", "authorization"),
    "Anthropic SDK": Use(_anthropic("anthropic-sdk"), "/v1/messages", "authorization"),
    "Anthropic SDK, x-api-key header": Use(_anthropic_x_api_key, "/v1/messages", "x-api-key"),
    "Claude Code's variables": Use(_anthropic("claude-code"), "/v1/messages", "authorization"),
    "LiteLLM openai/": Use(_litellm("litellm-openai"), "/v1/chat/completions", "authorization"),
    "LiteLLM anthropic/": Use(_litellm("litellm-anthropic"), "/v1/messages", "x-api-key"),
    "LiteLLM ollama_chat/": Use(_litellm("litellm-ollama"), "/api/chat", "authorization"),
    "aider's variables": Use(_litellm("aider"), "/v1/chat/completions", "authorization"),
    "ollama client": Use(_ollama_client, "/api/chat", "authorization"),
}


@pytest.fixture(scope="module")
def key(tmp_path_factory) -> tuple[KeyStore, str]:
    store = KeyStore(tmp_path_factory.mktemp("keys") / "api-keys.json")
    return store, str(store.add("alice"))


@pytest.fixture(scope="module")
def keyed_proxy(haproxy_binary, ollama, key, tmp_path_factory):
    """Keys on, every route set, the access log on: one JSON line per request in the proxy's log."""
    store, _ = key
    with proxy_with(ollama.port, tmp_path_factory.mktemp("keyed"), proxy_api_keys=True,
                    proxy_api_keys_file=str(store.path), proxy_access_log=True,
                    ollama_route_sets=ALL_ROUTE_SETS) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def proxy_without_ollama(haproxy_binary, tmp_path_factory):
    """Nothing behind the proxy: every request gets the retryable 503, and the access log counts them."""
    with proxy_with(free_port(), tmp_path_factory.mktemp("down"), proxy_access_log=True) as proxy:
        yield proxy


@pytest.mark.parametrize("use", list(USES.values()), ids=list(USES))
def test_each_library_sends_its_key_in_the_header_it_uses_by_itself(ollama, model_id, use):
    """Straight to the stand-in, which records headers: which of the proxy's two headers each use covers."""
    marker = new_marker()
    use.ask(ollama, "po_header_check", model_id, marked(marker))
    [seen] = [request for request in ollama.record.with_marker(marker) if request["path"] == use.path]
    headers = {name.lower(): value for name, value in seen["headers"]}
    sent = {"x-api-key": "po_header_check", "authorization": "Bearer po_header_check"}
    assert {name: headers.get(name) for name in sent if name in headers} == {use.header: sent[use.header]}


@pytest.mark.parametrize("use", list(USES.values()), ids=list(USES))
def test_a_known_key_passes_and_names_its_client(keyed_proxy, key, model_id, use):
    before = len(access_log(keyed_proxy))
    answer = use.ask(keyed_proxy, key[1], model_id, {})
    assert answer == ANSWER
    [entry] = requests_logged(keyed_proxy, before, use.path, settle=0.1)
    assert (entry["status"], entry["client"]) == (200, "alice")


@pytest.mark.parametrize("use", list(USES.values()), ids=list(USES))
def test_a_wrong_key_is_refused_with_the_reason_after_one_request(keyed_proxy, ollama, model_id, use):
    marker = new_marker()
    before = len(access_log(keyed_proxy))
    with pytest.raises(Exception) as refused:  # each library's own class: AuthenticationError, ResponseError
        use.ask(keyed_proxy, WRONG_KEY, model_id, marked(marker))
    assert INVALID_KEY.message in str(refused.value), type(refused.value)
    assert [(entry["status"], entry["client"]) for entry in requests_logged(keyed_proxy, before, use.path)] == [
        (401, "-")]  # one request: no retry, with the library's default settings
    assert not ollama.record.has(marker)


def test_the_access_log_counts_an_sdks_retries(proxy_without_ollama, model_id):
    """What makes the count above mean "no retry": a 503 (Retry-After: 2) is retried twice by the OpenAI SDK,
    and the log shows all three requests."""
    before = len(access_log(proxy_without_ollama))
    client = openai.OpenAI(base_url=f"{server_url(proxy_without_ollama)}/v1", api_key="ollama")
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model=model_id, messages=CHAT, max_tokens=TOKENS)
    entries = requests_logged(proxy_without_ollama, before, "/v1/chat/completions", settle=0.5)
    assert [entry["status"] for entry in entries] == [503, 503, 503]
