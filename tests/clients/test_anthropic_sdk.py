"""The Anthropic SDK, built from its recipe's ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY (and from Claude
Code's variables), through the real HAProxy: Messages created, streamed and through the
``messages.stream()`` helper, with tools too, the beta Messages endpoint and Claude Code's
``?beta=true``; ``messages.count_tokens``, which Ollama does not have, is refused with the reason in the SDK's
exception and never reaches Ollama."""

from __future__ import annotations

import anthropic
import pytest

from private_ollama.desired_state.refusals import REFUSALS
from tests.clients.asks import ANSWER, ANTHROPIC_TOOLS, CALLED_WITH, CHAT, STREAMED, TOKENS, TOOL, TOOL_CHAT
from tests.clients.servers import marked, reached, recipe_settings
from tests.proxy.wire import new_marker

ROUTE_NOT_ALLOWED = REFUSALS["route_not_allowed"]


@pytest.fixture(scope="module")
def client(default_proxy) -> anthropic.Anthropic:
    """The SDK as the recipe sets it up: ``Anthropic()`` reading the two variables."""
    with recipe_settings("anthropic-sdk", default_proxy):
        return anthropic.Anthropic()


def test_the_recipe_points_the_sdk_at_the_proxy(client, default_proxy):
    assert str(client.base_url) == f"http://127.0.0.1:{default_proxy.port}"


def test_messages_create_answers_whole(client, model_id, ollama):
    marker = new_marker()
    message = client.messages.create(model=model_id, max_tokens=TOKENS, messages=CHAT, extra_headers=marked(marker))
    assert ([block.text for block in message.content], message.stop_reason) == ([ANSWER], "max_tokens")
    assert reached(ollama, marker) == ["POST /v1/messages"]


def test_messages_stream_sends_every_event_with_its_name(client, model_id):
    events = list(client.messages.create(model=model_id, max_tokens=TOKENS, messages=CHAT, stream=True))
    kinds = [event.type for event in events]
    assert (kinds[0], kinds[-1], kinds.count("content_block_delta")) == ("message_start", "message_stop", TOKENS)
    assert "".join(event.delta.text for event in events if event.type == "content_block_delta") == ANSWER


def test_the_stream_helper_yields_each_token_then_the_final_message(client, model_id):
    with client.messages.stream(model=model_id, max_tokens=TOKENS, messages=CHAT) as stream:
        tokens = list(stream.text_stream)
        final = stream.get_final_message()
    assert (tokens, final.content[0].text, final.stop_reason) == (STREAMED, ANSWER, "max_tokens")


def test_messages_call_the_offered_tool(client, model_id):
    message = client.messages.create(model=model_id, max_tokens=64, messages=TOOL_CHAT, tools=ANTHROPIC_TOOLS)
    [call] = message.content
    assert (call.type, call.name, call.input, message.stop_reason) == ("tool_use", TOOL, CALLED_WITH, "tool_use")


def test_the_stream_helper_assembles_a_tool_call_from_its_json_deltas(client, model_id):
    with client.messages.stream(model=model_id, max_tokens=64, messages=TOOL_CHAT, tools=ANTHROPIC_TOOLS) as stream:
        [call] = stream.get_final_message().content
    assert (call.type, call.name, call.input) == ("tool_use", TOOL, CALLED_WITH)


def test_the_beta_messages_endpoint_passes(client, model_id, ollama):
    marker = new_marker()
    message = client.beta.messages.create(model=model_id, max_tokens=TOKENS, messages=CHAT,
                                          extra_headers=marked(marker))
    assert message.content[0].text == ANSWER
    assert reached(ollama, marker) == ["POST /v1/messages"]


def test_messages_pass_with_the_query_claude_code_adds(client, model_id, ollama):
    """Claude Code posts to ``/v1/messages?beta=true``; the route is matched on the path alone."""
    marker = new_marker()
    message = client.messages.create(model=model_id, max_tokens=TOKENS, messages=CHAT, extra_query={"beta": "true"},
                                     extra_headers=marked(marker))
    assert message.content[0].text == ANSWER
    assert reached(ollama, marker) == ["POST /v1/messages?beta=true"]


def test_count_tokens_is_refused_with_its_reason_and_never_reaches_ollama(client, model_id, ollama):
    marker = new_marker()
    with pytest.raises(anthropic.PermissionDeniedError) as refused:
        client.messages.count_tokens(model=model_id, messages=CHAT, extra_headers=marked(marker))
    assert ROUTE_NOT_ALLOWED.message in str(refused.value)
    assert refused.value.body == {"type": "error", "error": {"type": "permission_error",
                                                              "message": ROUTE_NOT_ALLOWED.message}}
    assert reached(ollama, marker) == []


def test_claude_codes_variables_reach_the_server_as_a_bearer_token(default_proxy, model_id):
    """Claude Code's recipe (ANTHROPIC_AUTH_TOKEN, an empty ANTHROPIC_API_KEY), read by the Anthropic SDK."""
    with recipe_settings("claude-code", default_proxy):
        client = anthropic.Anthropic()
    assert client.auth_headers == {"Authorization": f"Bearer {client.auth_token}"}
    assert client.messages.create(model=model_id, max_tokens=TOKENS, messages=CHAT).content[0].text == ANSWER
