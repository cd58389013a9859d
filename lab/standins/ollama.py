"""A stand-in for the ``ollama`` binary on a test host (Python standard library only).

``ollama serve`` answers Ollama's whole HTTP route table the way the real server
does where the project depends on it: gin routes on the *decoded* path, Go's
ServeMux answers ``..``, ``.`` and ``//`` with a 301, gin redirects a trailing
slash and answers 404/405 with its plain-text bodies, a loopback listener
refuses foreign ``Host`` values with an empty 403, and a foreign ``Origin`` gets
403 from the CORS layer. Generations stream for real: one chunk per token,
flushed at once, each carrying its send time (``standin_sent_ns``) so a test can
measure the delay a proxy adds. Every request received is appended as one JSON
line to a record file, so a test can tell what did and did not reach Ollama.

.. code:: console

    $ OLLAMA_HOST=127.0.0.1:18434 OLLAMA_STANDIN_RECORD=/tmp/seen.jsonl ollama serve &
    $ OLLAMA_HOST=127.0.0.1:18434 ollama --version
    ollama version is 0.14.3

Environment, as the real server reads it: ``OLLAMA_HOST``, ``OLLAMA_ORIGINS``,
``OLLAMA_NO_CLOUD``. The stand-in's own: ``OLLAMA_STANDIN_RECORD`` (default
``$HOME/.ollama/standin-requests.jsonl``), ``OLLAMA_STANDIN_CHUNKS`` (tokens a
generation streams when the request sets no limit, default 5) and
``OLLAMA_STANDIN_CHUNK_INTERVAL_MS`` (pause before each token, default 10). A
request limits its tokens the way real clients do: ``options.num_predict``,
``max_tokens`` or ``max_output_tokens``.
"""

from __future__ import annotations

import email.utils
import http.client
import ipaddress
import itertools
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "0.14.3"

# The one fake model list: /api/tags, /api/ps, /api/show, /v1/models and `ollama list` read it.
MODELS = (
    {
        "name": "qwen2.5-coder:32b",
        "size": 19851349856,
        "digest": "4bd6cbf2d094264457a17aab6bd6acd1ed7a72fb8f8be3cfb193f63c78dd56df",
        "modified_at": "2025-06-02T09:12:03.123456789-07:00",
        "family": "qwen2",
        "parameter_size": "32.8B",
        "quantization_level": "Q4_K_M",
    },
    {
        "name": "llama3.2:latest",
        "size": 2019393189,
        "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
        "modified_at": "2025-05-04T17:37:44.706015396-07:00",
        "family": "llama",
        "parameter_size": "3.2B",
        "quantization_level": "Q4_K_M",
    },
)

# What a generation says, one token per streamed chunk.
WORDS = ("The", " sky", " is", " blue", " because", " of", " Rayleigh", " scattering", ".")

TEXT_PLAIN = "text/plain; charset=utf-8"
JSON = "application/json; charset=utf-8"
NDJSON = "application/x-ndjson"
SSE = "text/event-stream"


# --- Replies -------------------------------------------------------------------------


@dataclass
class Reply:
    """A whole response: status, body and headers."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Stream:
    """A streamed response: each item of ``chunks`` goes out as one flushed HTTP chunk."""

    content_type: str
    chunks: Iterator[bytes]
    status: int = 200


def text(status: int, body: str, content_type: str = TEXT_PLAIN) -> Reply:
    return Reply(status, body.encode(), content_type)


def as_json(status: int, value: object) -> Reply:
    """gin's ``c.JSON``: compact JSON, no trailing newline."""
    return Reply(status, _compact(value).encode(), JSON)


def redirect(status: int, location: str, method: str) -> Reply:
    """Go's ``http.Redirect``: a short HTML body for GET and HEAD only."""
    body = f'<a href="{location}">{http.client.responses[status]}</a>.\n\n' if method in ("GET", "HEAD") else ""
    return Reply(status, body.encode(), "text/html; charset=utf-8" if body else None, {"Location": location})


def ndjson(chunks: Iterator[dict]) -> Stream:
    return Stream(NDJSON, (f"{_compact(chunk)}\n".encode() for chunk in chunks))


def sse(events: Iterator[tuple[str | None, object]]) -> Stream:
    """Server-sent events: ``event:`` line when named, ``data:`` JSON (or a bare string such as [DONE])."""

    def frame(name: str | None, data: object) -> bytes:
        payload = data if isinstance(data, str) else _compact(data)
        return (f"event: {name}\n" if name else "").encode() + f"data: {payload}\n\n".encode()

    return Stream(SSE, (frame(name, data) for name, data in events))


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


# --- Requests ------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    target: str  # raw request-target, as sent
    path: str  # decoded path, what gin routes on
    query: str
    host: str  # Go's Request.Host: the authority of an absolute-form target, else the Host header
    headers: list[tuple[str, str]]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)

    def json_body(self) -> dict:
        """The JSON object in the body; ``ValueError`` or ``TypeError`` with gin's wording when there is none."""
        if not self.body:
            raise ValueError("missing request body")
        value = json.loads(self.body)
        if not isinstance(value, dict):
            raise TypeError("json: cannot unmarshal into a request object")
        return value


class BadRequest(Exception):
    """The request cannot be parsed the way Go's net/http parses it: 400 and close."""


def parse_target(method: str, target: str, host_header: str) -> tuple[str, str, str]:
    """(decoded path, raw query, host) of a request-target, like Go's ``url.ParseRequestURI``.

    >>> parse_target("GET", "/%61pi/tags?x=1", "127.0.0.1:11434")
    ('/api/tags', 'x=1', '127.0.0.1:11434')
    """
    if method == "CONNECT" and not target.startswith("/"):
        return "", "", target
    if target.startswith("/") or target == "*":
        # Origin-form: "//x" is a path here, not an authority; "#" stays in the path.
        raw_path, _, query = target.partition("?")
        host = host_header
    elif re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", target):
        parts = urllib.parse.urlsplit(target)
        raw_path, query, host = parts.path, parts.query, parts.netloc
    else:
        raise BadRequest("invalid URI")
    if re.search(r"%(?![0-9A-Fa-f]{2})", raw_path):
        raise BadRequest(f'invalid URL escape "{raw_path}"')
    return urllib.parse.unquote(raw_path, errors="surrogateescape"), query, host


# --- Routing (Go's ServeMux in front of gin) ---------------------------------------------


def clean_path(path: str) -> str:
    """Go's ``path.Clean`` keeping a trailing slash, as ServeMux cleans before dispatch.

    >>> clean_path("//v1/models/../../api/pull")
    '/api/pull'
    """
    stack: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if stack:
                stack.pop()
        elif segment not in ("", "."):
            stack.append(segment)
    cleaned = "/" + "/".join(stack)
    return cleaned + "/" if path.endswith("/") and cleaned != "/" else cleaned


def match_route(pattern: str, path: str) -> dict[str, str] | None:
    """gin's tree lookup for one route: ``:name`` takes one non-empty segment."""
    want, got = pattern.split("/"), path.split("/")
    if len(want) != len(got):
        return None
    params = {}
    for expected, segment in zip(want, got, strict=True):
        if expected.startswith(":") and segment:
            params[expected[1:]] = segment
        elif expected != segment:
            return None
    return params


@dataclass
class Routed:
    """What gin decided before any middleware ran."""

    handler: Callable[[Request], Reply | Stream] | None = None
    params: dict[str, str] = field(default_factory=dict)
    early: Reply | None = None  # a redirect, sent without running the middlewares
    allow: list[str] = field(default_factory=list)  # methods that would match: 405


def route(request: Request) -> Routed:
    """Route like Ollama: ServeMux's clean-path 301, then gin (trailing-slash redirect, 405, 404)."""
    if request.target == "*":
        return Routed(early=Reply(400))  # ServeMux refuses "OPTIONS *" and the like
    if request.method != "CONNECT":
        cleaned = clean_path(request.path or "/")
        if cleaned != request.path:
            location = urllib.parse.quote(cleaned) + (f"?{request.query}" if request.query else "")
            return Routed(early=redirect(301, location, request.method))
    for method, pattern, handler in ROUTES:
        params = match_route(pattern, request.path) if method == request.method else None
        if params is not None:
            return Routed(handler, params)
    if request.method != "CONNECT" and request.path != "/":
        alternative = request.path[:-1] if request.path.endswith("/") else request.path + "/"
        if any(m == request.method and match_route(p, alternative) is not None for m, p, _ in ROUTES):
            status = 301 if request.method == "GET" else 307
            return Routed(early=redirect(status, urllib.parse.quote(alternative), request.method))
    # Ollama sets gin's HandleMethodNotAllowed: a known path with another method is a 405.
    allow = [m for m in METHOD_ORDER if m != request.method and any(
        method == m and match_route(pattern, request.path) is not None for method, pattern, _ in ROUTES)]
    return Routed(allow=allow)


# --- Middlewares: CORS, then the Host check (server/routes.go) -------------------------------


def allowed_origins(environ: dict[str, str]) -> list[str]:
    """``envconfig.AllowedOrigins``: OLLAMA_ORIGINS, then loopback and app origins."""
    configured = _env(environ, "OLLAMA_ORIGINS")
    origins = [origin.strip().lower() for origin in configured.split(",")] if configured else []
    for host in ("localhost", "127.0.0.1", "0.0.0.0"):
        origins += [f"http://{host}", f"https://{host}", f"http://{host}:*", f"https://{host}:*"]
    return [*origins, "app://*", "file://*", "tauri://*", "vscode-webview://*", "vscode-file://*"]


def origin_allowed(origin: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        prefix, star, suffix = pattern.partition("*")
        if origin == pattern or (star and origin.startswith(prefix) and origin.endswith(suffix)):
            return True
    return False


def cors(request: Request, origins: list[str]) -> Reply | None:
    """gin-contrib/cors: a foreign Origin gets an empty 403; a valid preflight a 204."""
    origin = request.header("Origin")
    if not origin or origin in (f"http://{request.host}", f"https://{request.host}"):
        return None
    if not origin_allowed(origin, origins):
        return Reply(403)
    if request.method == "OPTIONS":
        return Reply(204, headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS",
            "Access-Control-Max-Age": "43200",
        })
    return None


def split_host_port(value: str) -> tuple[str, str]:
    """Go's ``net.SplitHostPort``; ``ValueError`` where Go returns an error."""
    if value.startswith("["):
        end = value.find("]")
        if end < 0 or value[end + 1:end + 2] != ":":
            raise ValueError(f"bad host:port {value!r}")
        return value[1:end], value[end + 2:]
    if value.count(":") != 1:
        raise ValueError(f"missing port or too many colons in {value!r}")
    host, port = value.split(":")
    return host, port


_GO_PRIVATE = tuple(ipaddress.ip_network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))


def _is_local_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether the address belongs to this machine (Ollama's isLocalIP): bindable means ours."""
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((str(address), 0))
        except OSError:
            return False
    return True


def host_allowed(host_header: str) -> bool:
    """``allowedHostsMiddleware`` for a loopback listener.

    >>> host_allowed("remote-ollama.tail1234.ts.net")
    False
    """
    try:
        host = split_host_port(host_header)[0]
    except ValueError:
        host = host_header
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and (address.is_loopback or address.is_unspecified
                                or any(address in net for net in _GO_PRIVATE if net.version == address.version)
                                or _is_local_address(address)):
        return True
    host = host.lower()
    if host in ("", "localhost", socket.gethostname().lower()):
        return True
    return host.endswith((".localhost", ".local", ".internal"))


# --- Handlers --------------------------------------------------------------------------


def _now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _parse_time(value: str) -> datetime:
    """An RFC 3339 time with nanoseconds, which ``fromisoformat`` does not take."""
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", value))


def find_model(name: str) -> dict | None:
    """The fake model named ``name`` (an untagged name means ``:latest``, as in Ollama)."""
    wanted = name if ":" in name else f"{name}:latest"
    return next((model for model in MODELS if model["name"] == wanted), None)


def _details(model: dict) -> dict:
    return {
        "parent_model": "", "format": "gguf", "family": model["family"], "families": [model["family"]],
        "parameter_size": model["parameter_size"], "quantization_level": model["quantization_level"],
    }


def _listing(model: dict) -> dict:
    return {"name": model["name"], "model": model["name"], "modified_at": model["modified_at"],
            "size": model["size"], "digest": model["digest"], "details": _details(model)}


def _openai_model(model: dict) -> dict:
    created = int(_parse_time(model["modified_at"]).timestamp())
    return {"id": model["name"], "object": "model", "created": created, "owned_by": "library"}


def _openai_error(status: int, message: str, kind: str = "api_error") -> Reply:
    return as_json(status, {"error": {"message": message, "type": kind, "param": None, "code": None}})


def root(request: Request) -> Reply:
    return text(200, "Ollama is running")


def version(request: Request) -> Reply:
    return as_json(200, {"version": VERSION})


def tags(request: Request) -> Reply:
    return as_json(200, {"models": [_listing(model) for model in MODELS]})


def running(request: Request) -> Reply:
    loaded = dict(_listing(MODELS[-1]), expires_at=_now_rfc3339(), size_vram=MODELS[-1]["size"], context_length=4096)
    loaded.pop("modified_at")
    return as_json(200, {"models": [loaded]})


def status(request: Request) -> Reply:
    disabled = _env(os.environ, "OLLAMA_NO_CLOUD") not in ("", "0", "false")
    return as_json(200, {"cloud": {"disabled": disabled, "source": "env" if disabled else "none"}})


def recommendations(request: Request) -> Reply:
    return as_json(200, {"recommendations": [{"model": MODELS[-1]["name"], "reason": "fits in memory"}]})


def unauthorized(request: Request) -> Reply:
    """Account routes (me, web search, keys): this host is not signed in to ollama.com."""
    return as_json(401, {"error": "unauthorized"})


def no_content(request: Request) -> Reply:
    return Reply(200)


def blob_created(request: Request) -> Reply:
    return Reply(201)


def blob_missing(request: Request) -> Reply:
    return Reply(404)


def _wants_stream(body: dict, default: bool) -> bool:
    return bool(body.get("stream", default))


def progress(*steps: str) -> Callable[[Request], Reply | Stream]:
    """pull, push, create: an NDJSON progress stream (or its last line with stream false)."""

    def handler(request: Request) -> Reply | Stream:
        body = _body_or_error(request)
        if isinstance(body, Reply):
            return body
        if not _wants_stream(body, True):
            return as_json(200, {"status": "success"})
        return ndjson({"status": step} for step in (*steps, "success"))

    return handler


def show(request: Request) -> Reply:
    body = _body_or_error(request)
    if isinstance(body, Reply):
        return body
    name = body.get("model") or body.get("name") or ""
    model = find_model(name)
    if model is None:
        return as_json(404, {"error": f"model '{name}' not found"})
    return as_json(200, {
        "modelfile": f"FROM {model['name']}\n", "parameters": "stop \"<|eot_id|>\"",
        "template": "{{ .Prompt }}", "details": _details(model),
        "model_info": {"general.architecture": model["family"], f"{model['family']}.context_length": 131072},
        "capabilities": ["completion", "tools"], "modified_at": model["modified_at"],
    })


def delete(request: Request) -> Reply:
    body = _body_or_error(request)
    if isinstance(body, Reply):
        return body
    name = body.get("model") or body.get("name") or ""
    return Reply(200) if find_model(name) else as_json(404, {"error": f"model '{name}' not found"})


def embed(request: Request) -> Reply:
    return _with_model(request, lambda body, model: as_json(200, {
        "model": model["name"], "embeddings": [[0.010071, -0.001759, 0.050072]], "prompt_eval_count": 8}))


def embeddings(request: Request) -> Reply:
    return _with_model(request, lambda body, model: as_json(200, {"embedding": [0.567, 0.009, 0.231]}))


def openai_embeddings(request: Request) -> Reply:
    return _with_model(request, lambda body, model: as_json(200, {
        "object": "list", "data": [{"object": "embedding", "embedding": [0.010071, -0.001759], "index": 0}],
        "model": model["name"], "usage": {"prompt_tokens": 8, "total_tokens": 8}}), openai=True)


def transcription(request: Request) -> Reply:
    return as_json(200, {"text": "".join(WORDS)})


# --- Generations: every one streams the same tokens, framed per API ---------------------------------


def _token_limit(body: dict) -> int | None:
    options = body.get("options") if isinstance(body.get("options"), dict) else {}
    for value in (options.get("num_predict"), body.get("max_tokens"), body.get("max_output_tokens")):
        if isinstance(value, int) and value > 0:
            return value
    return None


def _token_count(body: dict) -> int:
    return _token_limit(body) or int(os.environ.get("OLLAMA_STANDIN_CHUNKS", "5"))


def tokens(count: int) -> Iterator[str]:
    """``count`` tokens, each after the configured pause, as a model would emit them."""
    interval = int(os.environ.get("OLLAMA_STANDIN_CHUNK_INTERVAL_MS", "10")) / 1000
    for word in itertools.islice(itertools.cycle(WORDS), count):
        time.sleep(interval)
        yield word


def stamped(chunk: dict) -> dict:
    """A chunk with its send time: the stand-in writes it out right after this call."""
    return dict(chunk, standin_sent_ns=time.time_ns())


def _done_reason(body: dict) -> str:
    return "length" if _token_limit(body) else "stop"


def _timings(count: int) -> dict:
    return {"total_duration": 1_200_000_000, "load_duration": 40_000_000, "prompt_eval_count": 26,
            "prompt_eval_duration": 90_000_000, "eval_count": count, "eval_duration": count * 12_000_000}


def generate(request: Request) -> Reply | Stream:
    return _with_model(request, lambda body, model: _native(body, model, lambda token: {"response": token}))


def chat(request: Request) -> Reply | Stream:
    return _with_model(request, lambda body, model: _native(
        body, model, lambda token: {"message": {"role": "assistant", "content": token}}))


def _native(body: dict, model: dict, content: Callable[[str], dict]) -> Reply | Stream:
    """/api/generate and /api/chat: NDJSON by default, one object with stream false."""
    count = _token_count(body)
    head = {"model": model["name"]}
    final = {"done": True, "done_reason": _done_reason(body), **_timings(count)}
    if not _wants_stream(body, True):
        return as_json(200, {**head, "created_at": _now_rfc3339(), **content("".join(tokens(count))), **final})

    def chunks() -> Iterator[dict]:
        for token in tokens(count):
            yield stamped({**head, "created_at": _now_rfc3339(), **content(token), "done": False})
        yield stamped({**head, "created_at": _now_rfc3339(), **content(""), **final})

    return ndjson(chunks())


def chat_completions(request: Request) -> Reply | Stream:
    return _with_model(request, _chat_completions, openai=True)


def _chat_completions(body: dict, model: dict) -> Reply | Stream:
    count, finish = _token_count(body), _done_reason(body)
    head = {"id": f"chatcmpl-{count}", "object": "chat.completion", "created": int(time.time()),
            "model": model["name"], "system_fingerprint": "fp_ollama"}
    usage = {"prompt_tokens": 26, "completion_tokens": count, "total_tokens": 26 + count}
    if not _wants_stream(body, False):
        message = {"role": "assistant", "content": "".join(tokens(count))}
        return as_json(200, {**head, "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                             "usage": usage})
    head["object"] = "chat.completion.chunk"

    def choice(content: str, reason: str | None) -> dict:
        return {"index": 0, "delta": {"role": "assistant", "content": content}, "finish_reason": reason}

    def events() -> Iterator[tuple[None, object]]:
        for token in tokens(count):
            yield None, stamped({**head, "choices": [choice(token, None)]})
        yield None, stamped({**head, "choices": [choice("", finish)]})
        if (body.get("stream_options") or {}).get("include_usage"):
            yield None, stamped({**head, "choices": [], "usage": usage})
        yield None, "[DONE]"

    return sse(events())


def completions(request: Request) -> Reply | Stream:
    return _with_model(request, _completions, openai=True)


def _completions(body: dict, model: dict) -> Reply | Stream:
    count, finish = _token_count(body), _done_reason(body)
    head = {"id": f"cmpl-{count}", "object": "text_completion", "created": int(time.time()),
            "model": model["name"], "system_fingerprint": "fp_ollama"}
    if not _wants_stream(body, False):
        return as_json(200, {**head, "choices": [{"text": "".join(tokens(count)), "index": 0,
                                                  "finish_reason": finish}]})

    def events() -> Iterator[tuple[None, object]]:
        for token in tokens(count):
            yield None, stamped({**head, "choices": [{"text": token, "index": 0, "finish_reason": None}]})
        yield None, stamped({**head, "choices": [{"text": "", "index": 0, "finish_reason": finish}]})
        yield None, "[DONE]"

    return sse(events())


def messages(request: Request) -> Reply | Stream:
    return _with_model(request, _messages, anthropic=True)


def _messages(body: dict, model: dict) -> Reply | Stream:
    """/v1/messages: the events in the order anthropic/anthropic.go emits them."""
    count = _token_count(body)
    stop = "max_tokens" if _token_limit(body) else "end_turn"
    message = {"id": f"msg_{count:024d}", "type": "message", "role": "assistant", "model": model["name"],
               "content": [], "stop_reason": None, "stop_sequence": None,
               "usage": {"input_tokens": 26, "output_tokens": 0}}
    if not _wants_stream(body, False):
        text_block = {"type": "text", "text": "".join(tokens(count))}
        return as_json(200, {**message, "content": [text_block], "stop_reason": stop,
                             "usage": {"input_tokens": 26, "output_tokens": count}})

    def events() -> Iterator[tuple[str, object]]:
        yield "message_start", stamped({"type": "message_start", "message": message})
        yield "content_block_start", stamped({"type": "content_block_start", "index": 0,
                                              "content_block": {"type": "text", "text": ""}})
        for token in tokens(count):
            yield "content_block_delta", stamped({"type": "content_block_delta", "index": 0,
                                                  "delta": {"type": "text_delta", "text": token}})
        yield "content_block_stop", stamped({"type": "content_block_stop", "index": 0})
        yield "message_delta", stamped({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                        "usage": {"output_tokens": count}})
        yield "message_stop", stamped({"type": "message_stop"})

    return sse(events())


def responses(request: Request) -> Reply | Stream:
    return _with_model(request, _responses, openai=True)


def _responses(body: dict, model: dict) -> Reply | Stream:
    count = _token_count(body)
    item = {"type": "message", "id": f"msg_{count}", "status": "completed", "role": "assistant"}
    response = {"id": f"resp_{count}", "object": "response", "created_at": int(time.time()), "model": model["name"],
                "status": "in_progress", "output": []}
    usage = {"input_tokens": 26, "output_tokens": count, "total_tokens": 26 + count}

    def completed(output_text: str) -> dict:
        part = {"type": "output_text", "text": output_text, "annotations": []}
        return {**response, "status": "completed", "output": [{**item, "content": [part]}], "usage": usage}

    if not _wants_stream(body, False):
        return as_json(200, completed("".join(tokens(count))))

    def events() -> Iterator[tuple[str, object]]:
        sequence = itertools.count()
        yield "response.created", stamped({"type": "response.created", "sequence_number": next(sequence),
                                           "response": response})
        said = ""
        for token in tokens(count):
            said += token
            yield "response.output_text.delta", stamped({
                "type": "response.output_text.delta", "sequence_number": next(sequence), "item_id": item["id"],
                "output_index": 0, "content_index": 0, "delta": token})
        yield "response.output_text.done", stamped({
            "type": "response.output_text.done", "sequence_number": next(sequence), "item_id": item["id"],
            "output_index": 0, "content_index": 0, "text": said})
        yield "response.completed", stamped({"type": "response.completed", "sequence_number": next(sequence),
                                             "response": completed(said)})

    return sse(events())


def list_openai_models(request: Request) -> Reply:
    return as_json(200, {"object": "list", "data": [_openai_model(model) for model in MODELS]})


def retrieve_openai_model(request: Request) -> Reply:
    name = request.params["model"]
    model = find_model(name)
    return as_json(200, _openai_model(model)) if model else _openai_error(404, f'model "{name}" not found')


def _body_or_error(request: Request, openai: bool = False, anthropic: bool = False) -> dict | Reply:
    """The JSON body, or the 400 each API family answers for a bad one."""
    try:
        return request.json_body()
    except (ValueError, TypeError) as error:
        message = str(error)
    if anthropic:
        return as_json(400, {"type": "error", "error": {"type": "invalid_request_error", "message": message}})
    return _openai_error(400, message, "invalid_request_error") if openai else as_json(400, {"error": message})


def _with_model(request: Request, respond: Callable[[dict, dict], Reply | Stream],
                openai: bool = False, anthropic: bool = False) -> Reply | Stream:
    """Run ``respond(body, model)`` for a known model; a 404 in the API's own error shape otherwise."""
    body = _body_or_error(request, openai, anthropic)
    if isinstance(body, Reply):
        return body
    name = str(body.get("model", ""))
    model = find_model(name)
    if model is not None:
        return respond(body, model)
    message = f"model '{name}' not found"
    if anthropic:
        return as_json(404, {"type": "error", "error": {"type": "not_found_error", "message": message}})
    return _openai_error(404, message) if openai else as_json(404, {"error": message})


# Ollama's route table (server/routes.go; see FIELD-NOTES), in gin's syntax: ":name" is
# one path segment. Order matters only for the Allow header, as gin's trees do.
ROUTES: tuple[tuple[str, str, Callable[[Request], Reply | Stream]], ...] = (
    ("HEAD", "/", root),
    ("GET", "/", root),
    ("HEAD", "/api/version", version),
    ("GET", "/api/version", version),
    ("HEAD", "/api/tags", tags),
    ("GET", "/api/tags", tags),
    ("GET", "/api/ps", running),
    ("GET", "/api/status", status),
    ("GET", "/api/experimental/model-recommendations", recommendations),
    ("POST", "/api/pull", progress("pulling manifest", "verifying sha256 digest", "writing manifest")),
    ("POST", "/api/push", progress("retrieving manifest", "pushing manifest")),
    ("POST", "/api/create", progress("gathering model components", "writing manifest")),
    ("POST", "/api/copy", no_content),
    ("POST", "/api/show", show),
    ("POST", "/api/generate", generate),
    ("POST", "/api/chat", chat),
    ("POST", "/api/embed", embed),
    ("POST", "/api/embeddings", embeddings),
    ("POST", "/api/me", unauthorized),
    ("POST", "/api/signout", unauthorized),
    ("POST", "/api/experimental/web_search", unauthorized),
    ("POST", "/api/experimental/web_fetch", unauthorized),
    ("POST", "/api/blobs/:digest", blob_created),
    ("HEAD", "/api/blobs/:digest", blob_missing),
    ("DELETE", "/api/delete", delete),
    ("DELETE", "/api/user/keys/:encodedKey", unauthorized),
    ("POST", "/v1/chat/completions", chat_completions),
    ("POST", "/v1/completions", completions),
    ("POST", "/v1/embeddings", openai_embeddings),
    ("POST", "/v1/audio/transcriptions", transcription),
    ("POST", "/v1/responses", responses),
    ("POST", "/v1/messages", messages),
    ("GET", "/v1/models", list_openai_models),
    ("GET", "/v1/models/:model", retrieve_openai_model),
)
METHOD_ORDER = tuple(dict.fromkeys(method for method, _, _ in ROUTES))


def dispatch(request: Request, origins: list[str], check_host: bool) -> Reply | Stream:
    """One request through Ollama's stack: ServeMux, gin's router, CORS, Host check, handler."""
    routed = route(request)
    if routed.early:
        return routed.early
    refused = cors(request, origins) or (None if not check_host or host_allowed(request.host) else Reply(403))
    if refused:
        return refused
    if routed.handler is None:
        if routed.allow:
            return Reply(405, b"405 method not allowed", "text/plain", {"Allow": ", ".join(routed.allow)})
        return Reply(404, b"404 page not found", "text/plain")
    request.params = routed.params
    return routed.handler(request)


# --- The HTTP server -------------------------------------------------------------------


def net_http_refusal(request: Request, version: str) -> str | None:
    """Why Go's net/http answers 400 before any handler runs, or None."""
    hosts = [value for name, value in request.headers if name.lower() == "host"]
    if len(hosts) > 1:
        return "too many Host headers"
    if version == "HTTP/1.1" and not hosts and request.method != "CONNECT":
        return "missing required Host header"
    if any(re.search(r"[\x00-\x08\x0a-\x1f\x7f]", value) for _, value in request.headers):
        return "invalid header value"
    return None


def _declared_length(headers) -> int | None:
    """The body length a request announces: 0 with no body, its Content-Length, None when chunked or unclear."""
    if "Transfer-Encoding" in headers:
        return None
    lengths = {value.strip() for value in headers.get_all("Content-Length", [])}
    if not lengths:
        return 0
    length = lengths.pop() if len(lengths) == 1 else ""
    return int(length) if length.isdigit() else None


class Recorder:
    """Appends one JSON line per request received, flushed at once (tests read it live)."""

    def __init__(self, path: str) -> None:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self._file = open(path, "a", encoding="utf-8")
        self._lock = threading.Lock()

    def record(self, method: str, target: str, path: str | None, headers: list[tuple[str, str]],
               body_length: int | None) -> None:
        """One request: its decoded path (None when unparsable) and declared body length (None when chunked)."""
        line = json.dumps({"time": time.time(), "method": method, "target": target, "path": path,
                           "headers": headers, "body_length": body_length})
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()


class OllamaHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive; any method reaches ``dispatch`` (Go has no fixed method set)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # Go sets TCP_NODELAY on every connection
    server: OllamaServer

    def handle_one_request(self) -> None:
        self.raw_requestline = self.rfile.readline(65537)
        if not self.raw_requestline or not self.parse_request():
            self.close_connection = True
            return
        started = time.monotonic()
        # parse_request rewrites a leading "//" in self.path; Go sees the target as sent.
        words = self.requestline.split()
        target = words[1] if len(words) > 1 else ""
        headers = list(self.headers.items())
        problem = None
        try:
            path, query, host = parse_target(self.command, target, self.headers.get("Host", ""))
        except BadRequest as error:
            path, query, host, problem = None, "", "", error
        # Recorded as soon as the head is in: the request reached Ollama even if its body never comes.
        self.server.recorder.record(self.command, target, path, headers, _declared_length(self.headers))
        try:
            body = b"" if problem else self._read_body()
        except BadRequest as error:
            problem = error
        if problem:
            self._send(text(400, f"400 Bad Request: {problem}"), close=True)
            return
        request = Request(self.command, target, path, query, host, headers, body)
        refusal = net_http_refusal(request, self.request_version)
        if refusal:
            reply: Reply | Stream = text(400, f"400 Bad Request: {refusal}")
        else:
            reply = dispatch(request, self.server.origins, self.server.checks_host)
        self._send(reply, close=bool(refusal))
        self._log(request, reply.status, time.monotonic() - started)

    def _read_body(self) -> bytes:
        encodings = [value.strip().lower() for value in self.headers.get_all("Transfer-Encoding", [])]
        if encodings:
            if encodings != ["chunked"]:
                raise BadRequest(f"unsupported transfer encoding: {','.join(encodings)}")
            return self._read_chunked()
        lengths = {value.strip() for value in self.headers.get_all("Content-Length", [])}
        if len(lengths) > 1:
            raise BadRequest("message cannot contain multiple Content-Length headers")
        length = lengths.pop() if lengths else "0"
        if not length.isdigit():
            raise BadRequest(f"bad Content-Length {length!r}")
        return self.rfile.read(int(length))

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_line = self.rfile.readline(1024).split(b";")[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise BadRequest("invalid byte in chunk length") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers carry nothing the stand-in uses
                return bytes(body)
            body += self.rfile.read(size)
            self.rfile.readline(1024)

    def _send(self, reply: Reply | Stream, close: bool = False) -> None:
        self.send_response_only(reply.status)
        self.send_header("Date", email.utils.formatdate(usegmt=True))
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        try:
            if isinstance(reply, Stream):
                self._send_stream(reply)
            else:
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send_stream(self, stream: Stream) -> None:
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in stream.chunks:
            self.wfile.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")

    def _log(self, request: Request, status: int, elapsed: float) -> None:
        stamp = datetime.now().strftime("%Y/%m/%d - %H:%M:%S")
        sys.stderr.write(f'[GIN] {stamp} | {status:3d} | {elapsed * 1000:9.3f}ms | {self.client_address[0]:>15} | '
                         f'{request.method:<7} "{request.target}"\n')


class OllamaServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = socket.SOMAXCONN  # Go listens with the system's maximum backlog, not Python's 5

    def __init__(self, host: str, port: int) -> None:
        if not host:  # every address, v4 and v6 where the host has v6, as Go's net.Listen does
            host = "::" if _has_ipv6() else "0.0.0.0"
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), OllamaHandler)
        bound = ipaddress.ip_address(self.server_address[0].split("%")[0])
        # Ollama checks Host only when its listener is on loopback.
        self.checks_host = bound.is_loopback
        self.origins = allowed_origins(dict(os.environ))
        default_record = os.path.join(os.path.expanduser("~"), ".ollama", "standin-requests.jsonl")
        self.recorder = Recorder(os.environ.get("OLLAMA_STANDIN_RECORD") or default_record)

    def server_bind(self) -> None:
        if self.server_address[0] == "::":
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::", 0))
    except OSError:
        return False
    return True


# --- OLLAMA_HOST -----------------------------------------------------------------------


def _env(environ: dict[str, str] | os._Environ, name: str) -> str:
    """envconfig.Var: the value without surrounding spaces and quotes."""
    return environ.get(name, "").strip().strip("\"'")


def parse_ollama_host(value: str) -> tuple[str, int]:
    """Where ``ollama serve`` listens and the CLI connects, read as ``envconfig.Host`` reads it.

    >>> parse_ollama_host("http://127.0.0.1:18434")
    ('127.0.0.1', 18434)
    >>> parse_ollama_host(":18434")  # every address, as in Go
    ('', 18434)
    """
    text_value = value.strip()
    scheme, separator, hostport = text_value.partition("://")
    default_port = {"http": "80", "https": "443"}.get(scheme, "11434") if separator else "11434"
    if not separator:
        hostport = text_value
    hostport = hostport.split("/", 1)[0]
    try:
        host, port = split_host_port(hostport)
    except ValueError:
        host, port = "127.0.0.1", default_port
        try:
            host = str(ipaddress.ip_address(hostport.strip("[]")))
        except ValueError:
            host = hostport or host
    if not port.isdigit() or int(port) > 65535:
        port = default_port
    return host, int(port)


# --- The CLI ---------------------------------------------------------------------------

USAGE = """Large language model runner

Usage:
  ollama [flags]
  ollama [command]

Available Commands:
  serve       Start ollama
  list        List models

Flags:
  -h, --help      help for ollama
  -v, --version   Show version information

Use "ollama [command] --help" for more information about a command."""


def serve(arguments: list[str]) -> int:
    if arguments:
        print(f"Error: accepts 0 arg(s), received {len(arguments)}", file=sys.stderr)
        return 1
    host, port = parse_ollama_host(_env(os.environ, "OLLAMA_HOST"))
    try:
        server = OllamaServer(host, port)
    except OSError as error:
        print(f"Error: listen tcp {_join_host_port(host, port)}: bind: {error.strerror.lower()}", file=sys.stderr)
        return 1
    for signum in (signal.SIGTERM, signal.SIGINT):  # launchd stops jobs with SIGTERM: exit 0, as Ollama does
        signal.signal(signum, lambda *_: sys.exit(0))
    stamp = datetime.now().astimezone().isoformat(timespec="milliseconds")
    sys.stderr.write(f'time={stamp} level=INFO source=routes.go:1554 '
                     f'msg="Listening on {_join_host_port(host, port)} (version {VERSION})"\n')
    sys.stderr.flush()
    server.serve_forever()
    return 0


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _get_from_server(path: str) -> dict:
    """GET a JSON path from the server OLLAMA_HOST names, as the real client does."""
    host, port = parse_ollama_host(_env(os.environ, "OLLAMA_HOST"))
    connection = http.client.HTTPConnection(host if host not in ("", "0.0.0.0", "::") else "127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise OSError(f"{response.status} {response.reason}")
    return json.loads(body)


def print_version() -> int:
    """cmd.go versionHandler: warnings on stdout, exit 0 even with no server."""
    try:
        server_version = _get_from_server("/api/version").get("version", "")
    except (OSError, ValueError):
        print("Warning: could not connect to a running Ollama instance")
        server_version = ""
    if server_version:
        print(f"ollama version is {server_version}")
    if server_version != VERSION:
        print(f"Warning: client version is {VERSION}")
    return 0


def list_models() -> int:
    try:
        models = _get_from_server("/api/tags")["models"]
    except (OSError, ValueError, KeyError):
        print("Error: could not connect to ollama app, is it running?", file=sys.stderr)
        return 1
    rows = [("NAME", "ID", "SIZE", "MODIFIED")] + [
        (m["name"], m["digest"][:12], human_bytes(m["size"]), human_time(_parse_time(m["modified_at"])))
        for m in models]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for row in rows:
        print("".join(cell.ljust(width + 4) for cell, width in zip(row[:3], widths, strict=True)) + row[3])
    return 0


def human_bytes(size: int) -> str:
    """format.HumanBytes: decimal units, one decimal below 10.

    >>> human_bytes(2019393189), human_bytes(19851349856)
    ('2.0 GB', '19 GB')
    """
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if size >= scale:
            value = size / scale
            return f"{int(value)} {unit}" if value >= 10 or value == int(value) else f"{value:.1f} {unit}"
    return f"{size} B"


def human_time(moment: datetime) -> str:
    """format.HumanTime: "7 months ago", "About an hour ago"."""
    seconds = (datetime.now(UTC) - moment).total_seconds()
    suffix = " ago" if seconds >= 0 else " from now"
    seconds = abs(seconds)
    hours = round(seconds / 3600)
    if seconds < 1:
        said = "Less than a second"
    elif seconds < 60:
        said = "1 second" if int(seconds) == 1 else f"{int(seconds)} seconds"
    elif seconds < 3600:
        said = "About a minute" if int(seconds // 60) == 1 else f"{int(seconds // 60)} minutes"
    elif hours == 1:
        said = "About an hour"
    elif hours < 48:
        said = f"{hours} hours"
    elif hours < 24 * 14:
        said = f"{hours // 24} days"
    elif hours < 24 * 60:
        said = f"{hours // (24 * 7)} weeks"
    elif hours < 24 * 730:
        said = f"{hours // (24 * 30)} months"
    else:
        said = f"{int(seconds // (3600 * 24 * 365))} years"
    return said + suffix


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if not arguments or arguments[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command, rest = arguments[0], arguments[1:]
    if command in ("-v", "--version"):
        return print_version()
    if command == "serve":
        return serve(rest)
    if command in ("list", "ls"):
        return list_models()
    print(f'Error: unknown command "{command}" for "ollama"\nRun \'ollama --help\' for usage.', file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
