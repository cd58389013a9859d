"""Every answer the proxy makes itself, in the error shape of the API the client speaks.

Clients show an error the way their SDK reads it: the OpenAI SDK prints
``error.message`` of ``{"error":{...}}``, the Anthropic SDK prints the whole
``{"type":"error","error":{...}}`` object, Ollama's clients read ``{"error":"..."}``.
A flat ``{"error":"..."}`` under ``/v1/`` would show as a bare "Error code: 403"
in the OpenAI SDK. So each refusal has one body per dialect, chosen by the path:
``/v1/messages`` is Anthropic's, any other ``/v1/`` OpenAI's, the rest Ollama's.
HAProxy picks the body from a map (``refusals.map``, installed beside the config)
keyed by ``<dialect>:<refusal>``.

A refusal that a retry cannot mend carries ``x-should-retry: false``, which the
OpenAI and Anthropic SDKs (and Claude Code) honour: without it they retry a 401
or 403 silently for a long while. 429 and 503 carry ``Retry-After`` instead.

HAProxy's HTTP parser answers some malformed requests before any rule runs (no
path, so no dialect): those get the ``errorfile`` responses below, in Anthropic's
shape, which all three SDKs print with the message in it. HAProxy 3.x (Homebrew's)
sends them; 2.6 always sends its built-in HTML there.

.. code:: python

    REFUSALS["route_not_allowed"].body("openai")
    # '{"error":{"message":"route not allowed ...","type":"invalid_request_error","code":"route_not_allowed"}}'
    refusals_map()       # the map HAProxy reads
    errorfile(400)       # a raw HTTP response for the parser's 400
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass

DIALECTS = ("anthropic", "openai", "ollama")
MODEL = "{model}"  # in a message: the model the request names (its first 200 bytes), put in by HAProxy
# What a retry can mend: too many requests (later), Ollama busy or down (later), a slow client (again).
RETRYABLE = {408, 429, 500, 502, 503, 504}
# Anthropic's error types by status (its API reference), for the statuses the proxy answers.
ANTHROPIC_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                   404: "not_found_error", 408: "timeout_error", 411: "invalid_request_error",
                   413: "request_too_large", 414: "invalid_request_error", 415: "invalid_request_error",
                   422: "invalid_request_error", 429: "rate_limit_error", 431: "request_too_large",
                   500: "api_error", 502: "api_error", 503: "overloaded_error", 504: "timeout_error"}


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str
    code: str  # OpenAI's error.code; also names the refusal in the map

    @property
    def names_the_model(self) -> bool:
        return MODEL in self.message

    @property
    def should_retry(self) -> bool:
        return self.status in RETRYABLE

    @property
    def openai_type(self) -> str:
        """As Ollama's own OpenAI layer types its errors, with the OpenAI API's names for auth and limits."""
        return {401: "authentication_error", 403: "permission_error", 404: "not_found_error",
                429: "rate_limit_error"}.get(self.status, "invalid_request_error" if self.status < 500 else "api_error")

    def body(self, dialect: str) -> str:
        if dialect == "anthropic":
            shape = {"type": "error", "error": {"type": ANTHROPIC_TYPES[self.status], "message": self.message}}
        elif dialect == "openai":
            shape = {"error": {"message": self.message, "type": self.openai_type, "code": self.code}}
        else:
            shape = {"error": self.message}
        return json.dumps(shape, separators=(",", ":"))


def _refusals(*refusals: Refusal) -> dict[str, Refusal]:
    return {refusal.code: refusal for refusal in refusals}


# The proxy's own refusals (http-request return), and the answers to HAProxy's own errors (http-error).
REFUSALS = _refusals(
    Refusal(403, "host not allowed: use this server's tailnet name or address", "host_not_allowed"),
    Refusal(403, "upgrade not allowed: this server speaks HTTP/1.1 only (no WebSocket, no tunnel)",
            "upgrade_not_allowed"),
    Refusal(401, "missing or invalid API key", "invalid_api_key"),
    Refusal(429, "too many requests in progress", "too_many_requests_in_progress"),
    Refusal(429, "too many requests", "too_many_requests"),
    Refusal(403, "route not allowed on this server (see its client settings for what it serves)",
            "route_not_allowed"),
    Refusal(411, "length required: send Content-Length, not Transfer-Encoding", "length_required"),
    Refusal(413, "request body too large", "request_too_large"),
    Refusal(415, "compressed request bodies are not accepted: send the body without Content-Encoding",
            "unsupported_content_encoding"),
    Refusal(403, "model '{model}' is not allowed on this server", "model_not_allowed"),
    Refusal(400, "the body's 'model' and 'name' must each name a model this server serves, written once as a plain "
            "JSON string", "model_not_checkable"),
    Refusal(413, "request body too large to check its model", "body_too_large_to_check"),
    Refusal(400, "request body is not one JSON object (RFC 8259) that this proxy can read", "invalid_json"),
    Refusal(413, "request body too large to route by its model", "body_too_large_to_route"),
    Refusal(404, "no member of this pool holds the model '{model}'", "model_not_in_pool"),
    Refusal(503, "no member of this pool that holds the model '{model}' is up", "model_unavailable"),
    Refusal(403, "pool headers are for the pool's members only", "pool_header_forged"),
    Refusal(403, "forbidden: header names may hold only letters, digits and -", "header_name_not_allowed"),
    Refusal(500, "proxy error", "proxy_error"),
    Refusal(502, "bad response from ollama", "bad_response_from_ollama"),
    Refusal(503, "ollama is unavailable", "ollama_unavailable"),
    Refusal(504, "ollama did not answer in time", "ollama_timeout"),
)
# HAProxy's own errors that come after the request was read, so they know its dialect (http-error).
HAPROXY_ERRORS = {403: "header_name_not_allowed", 500: "proxy_error", 502: "bad_response_from_ollama",
                  503: "ollama_unavailable", 504: "ollama_timeout"}
# Errors of HAProxy's parser, answered before any rule: one body for all (errorfile). 414 and 431 exist on 3.x only.
PARSER_ERRORS = {400: "bad request: the request is not valid HTTP/1.1", 408: "the request did not arrive in time",
                 413: "request body too large", 422: "unsupported transfer encoding",
                 414: "request target too long", 431: "request headers too large"}
PARSER_ERRORS_3X = (414, 431)


def refusals_map() -> str:
    """The map HAProxy looks bodies up in: ``<dialect>:<refusal> <JSON body>`` lines; a body that names the
    model (``{model}``) is two lines, ``...:head`` and ``...:tail``, the model's name goes between."""
    lines = ["# Error bodies of private-ollama's proxy, by dialect and refusal; rendered by the deploy."]
    for name, refusal in REFUSALS.items():
        for dialect in DIALECTS:
            body = refusal.body(dialect)
            if MODEL in body:
                head, tail = body.split(MODEL)
                lines += [f"{dialect}:{name}:head {head}", f"{dialect}:{name}:tail {tail}"]
            else:
                lines.append(f"{dialect}:{name} {body}")
    return "\n".join(lines) + "\n"


def errorfile(status: int) -> str:
    """A raw HTTP response for an error of HAProxy's parser, in Anthropic's shape (every SDK shows its message)."""
    refusal = Refusal(status, PARSER_ERRORS[status], "bad_request")
    body = refusal.body("anthropic")
    headers = [f"HTTP/1.1 {status} {http.client.responses[status]}", "Content-Type: application/json",
               "Cache-Control: no-cache", "Connection: close", f"Content-Length: {len(body)}"]
    if not refusal.should_retry:
        headers.append("x-should-retry: false")
    return "\r\n".join(headers) + "\r\n\r\n" + body
