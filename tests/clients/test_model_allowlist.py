"""The model allowlist as each real client shows it: with ``ollama_allowed_models`` on, a model outside it
raises the SDK's own permission error whose text names that model (the OpenAI and Anthropic SDKs, the
``ollama`` client), an allowed one still answers, and the refused request never reaches Ollama."""

from __future__ import annotations

import anthropic
import openai
import pytest
from ollama import Client, ResponseError

from lab.standins.ollama import MODELS
from private_ollama.desired_state.refusals import REFUSALS
from tests.clients.asks import ANSWER, CHAT, TOKENS
from tests.clients.servers import marked, proxy_with, reached, recipe_settings
from tests.proxy.wire import new_marker

NOT_ALLOWED = REFUSALS["model_not_allowed"]


@pytest.fixture(scope="module")
def other(model_id) -> str:
    """A model the stand-in has too, but the allowlist does not."""
    return next(model["name"] for model in MODELS if model["name"] != model_id)


@pytest.fixture(scope="module")
def filtered_proxy(haproxy_binary, ollama, model_id, tmp_path_factory):
    """HAProxy that lets through ``model_id`` only."""
    with proxy_with(ollama.port, tmp_path_factory.mktemp("filtered"), ollama_allowed_models=[model_id]) as proxy:
        yield proxy


def refused_message(model: str) -> str:
    return NOT_ALLOWED.message.format(model=model)


def test_the_openai_sdk_names_the_model_it_may_not_use(filtered_proxy, ollama, model_id, other):
    with recipe_settings("openai-sdk", filtered_proxy):
        client = openai.OpenAI()
    marker = new_marker()
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.chat.completions.create(model=other, messages=CHAT, max_tokens=TOKENS, extra_headers=marked(marker))
    assert str(refused.value) == f"Error code: 403 - {refused_message(other)}"
    assert refused.value.code == "model_not_allowed"
    assert reached(ollama, marker) == []
    reply = client.chat.completions.create(model=model_id, messages=CHAT, max_tokens=TOKENS)
    assert reply.choices[0].message.content == ANSWER


def test_the_anthropic_sdk_names_the_model_it_may_not_use(filtered_proxy, ollama, model_id, other):
    with recipe_settings("anthropic-sdk", filtered_proxy):
        client = anthropic.Anthropic()
    marker = new_marker()
    with pytest.raises(anthropic.PermissionDeniedError) as refused:
        client.messages.create(model=other, max_tokens=TOKENS, messages=CHAT, extra_headers=marked(marker))
    assert refused_message(other) in str(refused.value)
    assert refused.value.body == {"type": "error",
                                  "error": {"type": "permission_error", "message": refused_message(other)}}
    assert reached(ollama, marker) == []
    assert client.messages.create(model=model_id, max_tokens=TOKENS, messages=CHAT).content[0].text == ANSWER


def test_the_ollama_client_names_the_model_it_may_not_use(filtered_proxy, ollama, model_id, other):
    marker = new_marker()
    with recipe_settings("ollama-client", filtered_proxy):
        client = Client(headers=marked(marker))
    with pytest.raises(ResponseError) as refused:
        client.show(other)
    assert str(refused.value) == f"{refused_message(other)} (status code: 403)"
    assert reached(ollama, marker) == []
    assert client.show(model_id).modelfile
