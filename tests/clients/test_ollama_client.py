"""The ``ollama`` Python client, built from its recipe's OLLAMA_HOST, through the real HAProxy: list and
show pass with the default route sets; chat (plain, streamed, with tools), generate and ps need
``ollama-inference``, embed and embeddings need ``embeddings``. Without its set, each call raises the
client's ResponseError with the proxy's reason, and never reaches Ollama."""

from __future__ import annotations

import pytest
from ollama import Client, ResponseError

from lab.standins.ollama import EMBEDDING_LENGTH, MODELS
from private_ollama.desired_state.refusals import REFUSALS
from tests.clients.asks import ANSWER, CALLED_WITH, CHAT, OLLAMA_TOOLS, PROMPT, STREAMED, TOKENS, TOOL, TOOL_CHAT
from tests.clients.servers import marked, reached, recipe_settings
from tests.proxy.wire import new_marker

ROUTE_NOT_ALLOWED = REFUSALS["route_not_allowed"]
LIMIT = {"num_predict": TOKENS}


def client_of(proxy, marker: str | None = None) -> Client:
    """The client as the recipe sets it up: ``Client()`` reading OLLAMA_HOST (headers: a marker, if any)."""
    with recipe_settings("ollama-client", proxy):
        return Client(headers=marked(marker) if marker else None)


@pytest.fixture(scope="module")
def client(default_proxy) -> Client:
    return client_of(default_proxy)


@pytest.fixture(scope="module")
def full_client(full_proxy) -> Client:
    return client_of(full_proxy)


@pytest.mark.parametrize("proxy", ["default_proxy", "full_proxy"])
def test_list_names_every_model(request, proxy):
    listed = client_of(request.getfixturevalue(proxy)).list()
    assert [model.model for model in listed.models] == [model["name"] for model in MODELS]


def test_show_gives_a_models_details(client, model_id):
    shown = client.show(model_id)
    expected = next(model for model in MODELS if model["name"] == model_id)
    assert (shown.details.family, shown.details.parameter_size) == (expected["family"], expected["parameter_size"])


CHAT_CALLS = {
    "chat": lambda client, model: client.chat(model=model, messages=CHAT, options=LIMIT),
    "chat, streamed": lambda client, model: list(client.chat(model=model, messages=CHAT, options=LIMIT, stream=True)),
    "generate": lambda client, model: client.generate(model=model, prompt=PROMPT, options=LIMIT),
    "ps": lambda client, model: client.ps(),
}
EMBEDDING_CALLS = {
    "embed": lambda client, model: client.embed(model=model, input=PROMPT),
    "embeddings": lambda client, model: client.embeddings(model=model, prompt=PROMPT),
}
WITHOUT_THEIR_SET = {**CHAT_CALLS, **EMBEDDING_CALLS}


@pytest.mark.parametrize("call", list(WITHOUT_THEIR_SET.values()), ids=list(WITHOUT_THEIR_SET))
def test_without_its_route_set_a_call_is_refused_with_the_reason(default_proxy, ollama, model_id, call):
    marker = new_marker()
    with pytest.raises(ResponseError) as refused:
        call(client_of(default_proxy, marker), model_id)
    assert (refused.value.status_code, refused.value.error) == (403, ROUTE_NOT_ALLOWED.message)
    assert str(refused.value) == f"{ROUTE_NOT_ALLOWED.message} (status code: 403)"
    assert reached(ollama, marker) == []


def test_chat_answers_whole(full_proxy, ollama, model_id):
    marker = new_marker()
    reply = client_of(full_proxy, marker).chat(model=model_id, messages=CHAT, options=LIMIT)
    assert (reply.message.content, reply.done_reason) == (ANSWER, "length")
    assert reached(ollama, marker) == ["POST /api/chat"]


def test_chat_streams_one_line_per_token(full_client, model_id):
    chunks = list(full_client.chat(model=model_id, messages=CHAT, options=LIMIT, stream=True))
    assert [chunk.message.content for chunk in chunks if not chunk.done] == STREAMED
    assert chunks[-1].done


def test_chat_calls_the_offered_tool(full_client, model_id):
    [call] = full_client.chat(model=model_id, messages=TOOL_CHAT, tools=OLLAMA_TOOLS).message.tool_calls
    assert (call.function.name, dict(call.function.arguments)) == (TOOL, CALLED_WITH)


def test_generate_answers(full_client, model_id):
    assert full_client.generate(model=model_id, prompt=PROMPT, options=LIMIT).response == ANSWER


def test_ps_lists_the_loaded_models(full_client):
    assert [model.model for model in full_client.ps().models] == [MODELS[-1]["name"]]


def test_embed_gives_one_vector_per_text(full_client, model_id):
    vectors = full_client.embed(model=model_id, input=[PROMPT, "another text"]).embeddings
    assert [len(vector) for vector in vectors] == [EMBEDDING_LENGTH] * 2


def test_the_older_embeddings_call_gives_a_vector(full_client, model_id):
    assert len(full_client.embeddings(model=model_id, prompt=PROMPT).embedding) == EMBEDDING_LENGTH
