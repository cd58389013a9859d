"""The OpenAI SDK, built from its recipe's OPENAI_BASE_URL and OPENAI_API_KEY, through the real HAProxy:
the model list and one model, chat (plain, streamed, with tools), Responses (create, streamed, the
``responses.stream()`` helper, with tools) arrive whole and token by token; embeddings pass with the
``embeddings`` route set, and without it the SDK's exception carries the proxy's reason and the
request never reaches Ollama."""

from __future__ import annotations

import json

import openai
import pytest

from lab.standins.ollama import EMBEDDING_LENGTH, MODELS
from private_ollama.desired_state.refusals import REFUSALS
from tests.clients.asks import ANSWER, CALLED_WITH, CHAT, OPENAI_TOOLS, PROMPT, RESPONSES_TOOLS, TOKENS, TOOL, TOOL_CHAT
from tests.clients.servers import marked, reached, recipe_settings
from tests.proxy.wire import new_marker

ROUTE_NOT_ALLOWED = REFUSALS["route_not_allowed"]


def client_of(proxy) -> openai.OpenAI:
    """The SDK as the recipe sets it up: ``OpenAI()`` reading the two variables."""
    with recipe_settings("openai-sdk", proxy):
        return openai.OpenAI()


@pytest.fixture(scope="module")
def client(default_proxy) -> openai.OpenAI:
    return client_of(default_proxy)


@pytest.fixture(scope="module")
def embedding_client(full_proxy) -> openai.OpenAI:
    return client_of(full_proxy)


def test_the_recipe_points_the_sdk_at_the_proxy(client, default_proxy):
    assert str(client.base_url) == f"http://127.0.0.1:{default_proxy.port}/v1/"


def test_models_list_names_every_model_of_the_server(client):
    assert [model.id for model in client.models.list()] == [model["name"] for model in MODELS]


def test_models_retrieve_reads_a_model_by_its_tagged_id(client, model_id, ollama):
    marker = new_marker()
    assert client.models.retrieve(model_id, extra_headers=marked(marker)).id == model_id
    assert reached(ollama, marker) == [f"GET /v1/models/{model_id}"]  # the colon unencoded, as the SDK sends it


def test_chat_answers_whole(client, model_id, ollama):
    marker = new_marker()
    reply = client.chat.completions.create(model=model_id, messages=CHAT, max_tokens=TOKENS, extra_headers=marked(marker))
    assert (reply.choices[0].message.content, reply.choices[0].finish_reason) == (ANSWER, "length")
    assert reached(ollama, marker) == ["POST /v1/chat/completions"]


def test_chat_streams_one_chunk_per_token(client, model_id):
    stream = client.chat.completions.create(model=model_id, messages=CHAT, max_tokens=TOKENS, stream=True)
    tokens = [chunk.choices[0].delta.content for chunk in stream if chunk.choices and chunk.choices[0].delta.content]
    assert (len(tokens), "".join(tokens)) == (TOKENS, ANSWER)


def test_chat_calls_the_offered_tool(client, model_id):
    reply = client.chat.completions.create(model=model_id, messages=TOOL_CHAT, tools=OPENAI_TOOLS)
    [call] = reply.choices[0].message.tool_calls
    assert (call.function.name, json.loads(call.function.arguments)) == (TOOL, CALLED_WITH)
    assert reply.choices[0].finish_reason == "tool_calls"


def test_responses_create_answers(client, model_id, ollama):
    marker = new_marker()
    response = client.responses.create(model=model_id, input=PROMPT, max_output_tokens=TOKENS,
                                       extra_headers=marked(marker))
    assert (response.status, response.output_text) == ("completed", ANSWER)
    assert reached(ollama, marker) == ["POST /v1/responses"]


def test_responses_stream_sends_the_whole_event_sequence(client, model_id):
    events = list(client.responses.create(model=model_id, input=PROMPT, max_output_tokens=TOKENS, stream=True))
    kinds = [event.type for event in events]
    assert (kinds[0], kinds[-1]) == ("response.created", "response.completed")
    assert "".join(event.delta for event in events if event.type == "response.output_text.delta") == ANSWER


def test_responses_stream_helper_assembles_the_final_response(client, model_id):
    with client.responses.stream(model=model_id, input=PROMPT, max_output_tokens=TOKENS) as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert (len(deltas), "".join(deltas), final.output_text) == (TOKENS, ANSWER, ANSWER)


def test_responses_call_the_offered_tool(client, model_id):
    with client.responses.stream(model=model_id, input=f"Use {TOOL}.", tools=RESPONSES_TOOLS) as stream:
        [call] = stream.get_final_response().output
    assert (call.type, call.name, json.loads(call.arguments)) == ("function_call", TOOL, CALLED_WITH)


def test_embeddings_without_their_route_set_are_refused_with_the_reason(client, model_id, ollama):
    marker = new_marker()
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.embeddings.create(model=model_id, input=PROMPT, extra_headers=marked(marker))
    assert str(refused.value) == f"Error code: 403 - {ROUTE_NOT_ALLOWED.message}"
    assert refused.value.code == "route_not_allowed"
    assert reached(ollama, marker) == []


@pytest.mark.parametrize("encoding", ["base64 (the SDK's default)", "float"])
def test_embeddings_with_their_route_set_pass(embedding_client, model_id, encoding):
    options = {"encoding_format": "float"} if encoding == "float" else {}
    reply = embedding_client.embeddings.create(model=model_id, input=[PROMPT, "another text"], **options)
    assert [len(item.embedding) for item in reply.data] == [EMBEDDING_LENGTH] * 2
    assert reply.data[0].embedding != reply.data[1].embedding

