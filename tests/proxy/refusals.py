"""What a refusal must look like to the client: its status, and the body of the API its path belongs to.

The dialect follows the path the client asked for, as the README says: Anthropic's
error object under /v1/messages, OpenAI's under the rest of /v1/, Ollama's elsewhere.

.. code:: python

    expected_body("route_not_allowed", "/v1/chat%2Fcompletions")  # OpenAI's shape
    assert_refused(response, "host_not_allowed", "/api/tags")
    assert_refused(response, "model_not_allowed", "/v1/chat/completions", model="qwen2.5-coder:32b")
"""

from __future__ import annotations

import json

from private_ollama.desired_state.refusals import MODEL, REFUSALS


def path_of(target: str) -> str:
    """The raw path of a request target, as HAProxy's ``path`` reads it (also from an absolute URI)."""
    if "://" in target.split("?", 1)[0]:
        target = "/" + target.split("://", 1)[1].partition("/")[2]
    return target.split("?", 1)[0]


def dialect(target: str) -> str:
    path = path_of(target)
    if path == "/v1/messages" or path.startswith("/v1/messages/"):
        return "anthropic"
    return "openai" if path.startswith("/v1/") else "ollama"


def expected_body(name: str, target: str, model: str | None = None) -> dict:
    """The body of refusal ``name`` in the dialect of ``target``; one that names the model names ``model``
    (its first 200 bytes, as HAProxy cuts it: a character cut in two is left out)."""
    body = REFUSALS[name].body(dialect(target))
    if REFUSALS[name].names_the_model:
        shown = model.encode()[:200].decode(errors="ignore")
        body = body.replace(MODEL, json.dumps(shown)[1:-1])
    return json.loads(body)


def message_of(body: dict) -> str:
    """The message, whatever the shape: what each SDK shows."""
    error = body["error"]
    return error if isinstance(error, str) else error["message"]


def assert_refused(response, name: str, target: str, model: str | None = None) -> None:
    """``response`` is the refusal ``name`` in the dialect of ``target`` (naming ``model`` if it names one),
    with its retry advice."""
    refusal = REFUSALS[name]
    assert response.status == refusal.status, (response.status, response.body[:300])
    assert response.headers["content-type"] == "application/json"
    assert response.json() == expected_body(name, target, model)
    assert (response.headers.get("x-should-retry") == "false") is (not refusal.should_retry)


