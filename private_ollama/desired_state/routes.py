"""The routes HAProxy lets through to Ollama: an HTTP method and an exact path each, in named sets.

A set is what one family of clients needs; the knob ``ollama_route_sets`` picks
sets, ``ollama_extra_routes`` adds single routes.

.. code:: python

    route = Route(method="GET", path="/v1/models/{model}")
    route.has_model                                  # True
    route.regex(r"[a-z0-9.]+")                       # '^/v1/models/(?:[a-z0-9.]+)$'
    ROUTE_SETS["embeddings"].routes[0]               # Route(method='POST', path='/v1/embeddings')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, field_validator

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
MODEL_PLACEHOLDER = "{model}"


class Route(BaseModel):
    """One allowlisted request. A path may hold ``{model}``: one path segment matched by the model id pattern."""

    model_config = ConfigDict(frozen=True)

    method: str
    path: str

    @field_validator("method")
    @classmethod
    def _known_method(cls, method: str) -> str:
        if method not in HTTP_METHODS:
            raise ValueError(f"unknown HTTP method {method!r}; use one of {', '.join(HTTP_METHODS)}")
        return method

    @field_validator("path")
    @classmethod
    def _exact_absolute_path(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError(f"path {path!r} is not absolute (it must start with /)")
        if path == "/":
            return path
        bare = path.replace(MODEL_PLACEHOLDER, "model")
        if not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", bare):
            raise ValueError(
                f"path {path!r} must be plain segments of letters, digits and ._~- "
                "(no query, no percent-encoding, no //, no trailing /); "
                f"the only placeholder is {MODEL_PLACEHOLDER} as a whole segment",
            )
        if any(segment in (".", "..") for segment in bare.split("/")):
            raise ValueError(f"path {path!r} holds a dot segment")
        if re.search(r"[{}]", path.replace(MODEL_PLACEHOLDER, "")) or re.search(
            r"[^/]\{model\}|\{model\}[^/]", path,
        ):
            raise ValueError(f"path {path!r}: {MODEL_PLACEHOLDER} must be a whole segment")
        return path

    @property
    def has_model(self) -> bool:
        return MODEL_PLACEHOLDER in self.path

    def regex(self, model_id_pattern: str) -> str:
        """The anchored regular expression for a route with ``{model}``."""
        escaped = re.escape(self.path).replace(re.escape(MODEL_PLACEHOLDER), f"(?:{model_id_pattern})")
        return f"^{escaped}$"


def routes_from_pairs(routes: object) -> list[dict[str, str]]:
    """``[("GET", "/api/tags"), ...]`` as pydantic reads a ``Route``; ``ValueError`` when it is not such a list."""
    if not isinstance(routes, (list, tuple)):
        raise ValueError("must be a list of (method, path) pairs")
    pairs = []
    for route in routes:
        if not (isinstance(route, (list, tuple)) and len(route) == 2):
            raise ValueError(f"{route!r} is not a (method, path) pair")
        pairs.append({"method": route[0], "path": route[1]})
    return pairs


@dataclass(frozen=True)
class RouteSet:
    """Routes that one family of clients needs, and what turning them on exposes (for the README)."""

    routes: tuple[Route, ...]
    exposes: str
    needed_by: str


def _routes(*pairs: tuple[str, str]) -> tuple[Route, ...]:
    return tuple(Route(method=method, path=path) for method, path in pairs)


# The default is the first three: the OpenAI and Anthropic APIs and Ollama's read-only metadata.
ROUTE_SETS: dict[str, RouteSet] = {
    "openai": RouteSet(
        _routes(("POST", "/v1/chat/completions"), ("GET", "/v1/models"), ("GET", "/v1/models/{model}"),
                ("POST", "/v1/responses")),
        "chat and Responses generations, the model list",
        "the OpenAI SDK, aider (`openai/`), LiteLLM (`openai/`), Open WebUI's OpenAI connection",
    ),
    "anthropic": RouteSet(
        _routes(("POST", "/v1/messages")),
        "Messages generations (not `count_tokens`, which Ollama does not have)",
        "the Anthropic SDK, Claude Code, LiteLLM (`anthropic/`)",
    ),
    "ollama-metadata": RouteSet(
        _routes(("GET", "/api/version"), ("GET", "/api/tags"), ("POST", "/api/show")),
        "Ollama's version, the installed models and their details (template, parameters, license)",
        "the `ollama` client's list and show, Open WebUI's Ollama connection (its model list)",
    ),
    "ollama-inference": RouteSet(
        _routes(("POST", "/api/chat"), ("POST", "/api/generate"), ("GET", "/api/ps"), ("HEAD", "/")),
        "Ollama's native generations, which models are loaded (`/api/ps`), and its heartbeat (`HEAD /`)",
        "the `ollama` client's chat and generate, the `ollama` CLI (`OLLAMA_HOST=...`), LiteLLM (`ollama/`, "
        "`ollama_chat/`), aider's Ollama setup, Open WebUI's Ollama connection",
    ),
    "embeddings": RouteSet(
        _routes(("POST", "/v1/embeddings"), ("POST", "/api/embed"), ("POST", "/api/embeddings")),
        "embeddings of any text, in the OpenAI and Ollama APIs",
        "RAG and code search: the OpenAI SDK's and the `ollama` client's embeddings, LiteLLM, Open WebUI's RAG",
    ),
}
DEFAULT_ROUTE_SETS = ["openai", "anthropic", "ollama-metadata"]
