"""Requests that exercise each allowlisted route for real, shared by the host
checks and the end-to-end tests.

.. code:: python

    method, path, body = probe(route, "llama3.2:latest")
"""

from __future__ import annotations

import json

from private_ollama.desired_state.routes import Route

# Smallest valid body of each POST route of the route sets; a route added by data
# gets {"model": ...}, which Ollama answers (maybe with its own error).
_BODIES = {
    "/v1/chat/completions": lambda model: {"model": model, "messages": [{"role": "user", "content": "hi"}]},
    "/v1/responses": lambda model: {"model": model, "input": "hi"},
    "/v1/messages": lambda model: {"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]},
    "/v1/embeddings": lambda model: {"model": model, "input": "hi"},
    "/api/chat": lambda model: {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": False},
    "/api/generate": lambda model: {"model": model, "prompt": "hi", "stream": False},
    "/api/embed": lambda model: {"model": model, "input": "hi"},
    "/api/embeddings": lambda model: {"model": model, "prompt": "hi"},
}


def probe(route: Route, model: str) -> tuple[str, str, str | None]:
    """(method, path, JSON body or None) of a request the route should answer with 200."""
    path = route.path.replace("{model}", model)
    if route.method != "POST":
        return route.method, path, None
    body = _BODIES.get(route.path, lambda model: {"model": model})(model)
    return route.method, path, json.dumps(body)
