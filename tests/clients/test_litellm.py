"""LiteLLM, with its recipes' variables (and aider's, which are LiteLLM's), through the real HAProxy:
the ``openai/`` and ``anthropic/`` prefixes with the default route sets, plain and streamed;
``ollama/`` (Ollama's generate) and ``ollama_chat/`` with ``ollama-inference``, embeddings with
``embeddings``; without its set, a call raises LiteLLM's exception with the proxy's reason and never
reaches Ollama. LiteLLM runs offline: under a guard that refuses every connection beyond loopback, it
tries none (and without the conftest's variables it would fetch its cost map)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import litellm
import pytest

from private_ollama.desired_state.refusals import REFUSALS
from tests.clients.asks import ANSWER, CALLED_WITH, CHAT, OPENAI_TOOLS, PROMPT, TOKENS, TOOL, TOOL_CHAT
from tests.clients.conftest import LITELLM_OFFLINE
from tests.clients.servers import marked, reached, recipe_settings, server_url
from tests.proxy.wire import new_marker

litellm.suppress_debug_info = True  # no "Provider List: https://…" banner on each exception
pytestmark = [
    pytest.mark.filterwarnings("ignore:Items? .* `ReadOnly` qualifier:UserWarning"),  # LiteLLM's own types
    # LiteLLM's stream handler hands a coroutine to a thread pool; under pyinfra's gevent patching it stays unawaited.
    pytest.mark.filterwarnings("ignore:coroutine 'Logging.async_success_handler' was never awaited:RuntimeWarning"),
]
ROUTE_NOT_ALLOWED = REFUSALS["route_not_allowed"]
PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def ask(recipe: str, proxy, model: str, marker: str, prefix: str | None = None, **options):
    """``litellm.completion`` in recipe ``recipe``'s environment; ``prefix`` instead of the recipe's own."""
    with recipe_settings(recipe, proxy) as settings:
        name = f"{prefix}/{model}" if prefix else settings.model_name(model)
        return litellm.completion(model=name, messages=options.pop("messages", CHAT), max_tokens=TOKENS,
                                  extra_headers=marked(marker), **options)


def streamed_text(stream) -> str:
    return "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)


CHAT_ROUTES = {  # recipe, prefix (None: the recipe's), proxy, the route Ollama must see
    "openai/": ("litellm-openai", None, "default_proxy", "POST /v1/chat/completions"),
    "anthropic/": ("litellm-anthropic", None, "default_proxy", "POST /v1/messages"),
    "ollama_chat/": ("litellm-ollama", None, "full_proxy", "POST /api/chat"),
    "ollama/": ("litellm-ollama", "ollama", "full_proxy", "POST /api/generate"),
    "aider's openai/": ("aider", None, "default_proxy", "POST /v1/chat/completions"),
    "aider's ollama_chat/": ("aider-ollama", None, "full_proxy", "POST /api/chat"),
}


@pytest.mark.parametrize("route", list(CHAT_ROUTES.values()), ids=list(CHAT_ROUTES))
def test_each_prefix_answers_through_its_route(request, ollama, model_id, route):
    recipe, prefix, proxy, seen = route
    marker = new_marker()
    reply = ask(recipe, request.getfixturevalue(proxy), model_id, marker, prefix)
    assert reply.choices[0].message.content == ANSWER
    assert reached(ollama, marker) == [seen]


@pytest.mark.parametrize("route", [CHAT_ROUTES[name] for name in ("openai/", "anthropic/", "ollama_chat/")],
                         ids=["openai/", "anthropic/", "ollama_chat/"])
def test_each_prefix_streams(request, model_id, route):
    recipe, prefix, proxy, _ = route
    assert streamed_text(ask(recipe, request.getfixturevalue(proxy), model_id, new_marker(), prefix,
                             stream=True)) == ANSWER


@pytest.mark.parametrize("route", [CHAT_ROUTES[name] for name in ("openai/", "ollama_chat/")],
                         ids=["openai/", "ollama_chat/"])
def test_tools_pass_through(request, model_id, route):
    recipe, prefix, proxy, _ = route
    reply = ask(recipe, request.getfixturevalue(proxy), model_id, new_marker(), prefix, messages=TOOL_CHAT,
                tools=OPENAI_TOOLS)
    [call] = reply.choices[0].message.tool_calls
    assert (call.function.name, json.loads(call.function.arguments)) == (TOOL, CALLED_WITH)


def test_ollama_chat_without_ollama_inference_is_refused_with_the_reason(default_proxy, ollama, model_id):
    marker = new_marker()
    with pytest.raises(litellm.PermissionDeniedError) as refused:
        ask("litellm-ollama", default_proxy, model_id, marker)
    assert ROUTE_NOT_ALLOWED.message in str(refused.value)
    assert reached(ollama, marker) == []


EMBEDDINGS = {  # recipe, model prefix, the route Ollama must see, LiteLLM's exception for a 403
    "ollama/": ("litellm-ollama", "ollama", "POST /api/embed", litellm.PermissionDeniedError),
    "openai/": ("litellm-openai", "openai", "POST /v1/embeddings", litellm.APIError),  # its openai/ maps 403 so
}


def embed(recipe: str, proxy, model: str, marker: str):
    with recipe_settings(recipe, proxy):
        return litellm.embedding(model=model, input=[PROMPT, "another text"], extra_headers=marked(marker))


@pytest.mark.parametrize("route", list(EMBEDDINGS.values()), ids=list(EMBEDDINGS))
def test_embeddings_pass_with_their_route_set(full_proxy, ollama, model_id, route):
    recipe, prefix, seen, _ = route
    marker = new_marker()
    reply = embed(recipe, full_proxy, f"{prefix}/{model_id}", marker)
    assert len(reply.data) == 2 and reply.data[0]["embedding"] != reply.data[1]["embedding"]
    assert reached(ollama, marker) == [seen]


@pytest.mark.parametrize("route", list(EMBEDDINGS.values()), ids=list(EMBEDDINGS))
def test_embeddings_without_their_route_set_are_refused_with_the_reason(default_proxy, ollama, model_id, route):
    recipe, prefix, _, exception = route
    marker = new_marker()
    with pytest.raises(exception) as refused:
        embed(recipe, default_proxy, f"{prefix}/{model_id}", marker)
    assert ROUTE_NOT_ALLOWED.message in str(refused.value)
    assert reached(ollama, marker) == []


OFFLINE_RUN = """
import os, litellm
litellm.completion(model="openai/" + os.environ["MODEL"], api_base=os.environ["DEFAULT"] + "/v1", api_key="x",
                   messages=[{"role": "user", "content": "hi"}], max_tokens=2)
litellm.completion(model="anthropic/" + os.environ["MODEL"], api_base=os.environ["DEFAULT"], api_key="x",
                   messages=[{"role": "user", "content": "hi"}], max_tokens=2)
litellm.completion(model="ollama_chat/" + os.environ["MODEL"], api_base=os.environ["FULL"],
                   messages=[{"role": "user", "content": "hi"}], max_tokens=2)
litellm.embedding(model="ollama/" + os.environ["MODEL"], api_base=os.environ["FULL"], input=["hi"])
"""


@pytest.mark.parametrize("offline", [True, False], ids=["with the offline variables", "without them"])
def test_litellm_connects_nowhere_beyond_loopback_with_the_offline_variables(default_proxy, full_proxy, model_id,
                                                                              offline):
    environment = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "MODEL": model_id,
                   "DEFAULT": server_url(default_proxy), "FULL": server_url(full_proxy),
                   **(LITELLM_OFFLINE if offline else {})}
    run = subprocess.run([sys.executable, "-m", "tests.clients.offline", OFFLINE_RUN], cwd=PROJECT, env=environment,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    attempts = json.loads(run.stdout.splitlines()[-1])
    if offline:
        assert attempts == []
    else:  # the guard sees what the variables prevent: the cost map's fetch
        assert any("raw.githubusercontent.com" in attempt for attempt in attempts), attempts
