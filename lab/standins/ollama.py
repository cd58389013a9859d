"""A stand-in for the ``ollama`` binary on a test host (Python standard library only).

``ollama serve`` answers Ollama's whole HTTP route table the way the real server
does where the project depends on it: gin routes on the *decoded* path, Go's
ServeMux answers ``..``, ``.`` and ``//`` with a 301, gin redirects a trailing
slash and answers 404/405 with its plain-text bodies, a loopback listener
refuses foreign ``Host`` values with an empty 403, and a foreign ``Origin`` gets
403 from the CORS layer. Every request received is appended as one JSON line to
a record file, so a test can tell what did and did not reach Ollama.

It speaks each API as Ollama v0.33 writes it: /api/generate and /api/chat in
api/types.go's field order (NDJSON unless ``stream`` is false, load and unload
answers when there is nothing to generate), /v1/chat/completions, /v1/completions,
/v1/responses (its whole event sequence, keys sorted as Go writes maps) and
/v1/messages as Ollama's middlewares convert them, embeddings (deterministic
8-dimensional vectors per text, base64 on request), and errors in each API's
shape. Generations stream for real: one chunk per token, flushed at once, each
carrying its send time (``standin_sent_ns``) so a test can measure the delay a
proxy adds.

Its models are those of its store, in Ollama's layout under OLLAMA_MODELS
(ollama_store): /api/tags, /api/show, /v1/models, ``ollama list`` and every
generation route read it, and a model it does not hold is "not found"
everywhere. ``POST /api/pull`` (and ``ollama pull``) fetch from
registry.ollama.ai as Ollama does, with its progress, errors and resumable
partial downloads (ollama_pull); ``DELETE /api/delete`` removes the manifest and
the blobs no other model uses. A generation loads its model: /api/ps (and
``ollama ps``) lists it until its keep_alive runs out (the request's, else
OLLAMA_KEEP_ALIVE, else 5m); keep_alive 0 unloads it, which ``ollama rm`` does
before deleting; a deleted model stays loaded until then, as in Ollama. At
start the store's blobs/ is made and pruned as Ollama's (unless OLLAMA_NOPRUNE).

The model: a request that offers tools and whose last turn, the user's, names
one of them as a word ("call get_weather") gets a call of that tool, its
required arguments filled from the schema; any other gets the natural answer,
``OLLAMA_STANDIN_CHUNKS`` tokens. A request limits its tokens the way real
clients do (``options.num_predict``, ``max_tokens`` or ``max_output_tokens``):
a limit at or below the natural length cuts the answer there (done reason
``length``), a higher one changes nothing (``stop``). For a long generation on
purpose, set ``OLLAMA_STANDIN_RUN_TO_LIMIT=1``: then an answer with a limit runs
to it (the tests' stand-in does, so a stream lasts as long as a test asks).

.. code:: console

    $ OLLAMA_HOST=127.0.0.1:18434 OLLAMA_STANDIN_RECORD=/tmp/seen.jsonl ollama serve &
    $ OLLAMA_HOST=127.0.0.1:18434 ollama --version
    ollama version is 0.14.3

Environment, as the real server reads it: ``OLLAMA_HOST``, ``OLLAMA_ORIGINS``,
``OLLAMA_NO_CLOUD``, ``OLLAMA_MODELS``, ``OLLAMA_KEEP_ALIVE``,
``OLLAMA_CONTEXT_LENGTH``, ``OLLAMA_NOPRUNE``, ``SSL_CERT_FILE`` (the trust
store for registries). The stand-in's own: ``OLLAMA_STANDIN_RECORD`` (default
``$HOME/.ollama/standin-requests.jsonl``), ``OLLAMA_STANDIN_CHUNKS`` (tokens of
the natural answer, default 5), ``OLLAMA_STANDIN_RUN_TO_LIMIT`` (above),
``OLLAMA_STANDIN_CHUNK_INTERVAL_MS`` (pause before each token, default 10),
``OLLAMA_STANDIN_PULL_SECONDS`` (how long a pull's downloads take for a whole
model, whatever its size, default 3) and ``OLLAMA_STANDIN_REGISTRY``
(``host:port`` where registry.ollama.ai is, instead of looking the name up: for
tests on loopback; a lab host finds it in its /etc/hosts).

The CLI (``ollama pull``, ``list``, ``ps``, ``rm``, ``-v``) is ollama_cli. The
modules sit beside this file; from Homebrew's keg, which holds only ``ollama``
and this file, they are found in the stand-ins' folder of the lab host.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import http.client
import ipaddress
import itertools
import json
import math
import os
import queue
import random
import re
import secrets
import select
import signal
import socket
import string
import struct
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BOTTLES = "/usr/libexec/lab-standins"  # a lab host's stand-ins, where Homebrew's keg of this one came from

if __package__:  # the tests import the stand-in as lab.standins.ollama
    from . import ollama_cli, ollama_pull
    from .ollama_config import USER_AGENT, VERSION, env, parse_ollama_host, split_host_port
    from .ollama_store import Installed, Name, Store, StoreError, go_time, models_dir
else:  # the program: its modules are beside it, but Homebrew's keg holds only ollama and ollama.py (what brew
    # copies), so run from there it finds them in the folder the bottle came from
    sys.path.append(BOTTLES)
    import ollama_cli
    import ollama_pull
    from ollama_config import USER_AGENT, VERSION, env, parse_ollama_host, split_host_port
    from ollama_store import Installed, Name, Store, StoreError, go_time, models_dir

# The models a stand-in of the tests has from the start, newest first: tests/proxy/standin.py seeds its store
# with these catalogue models, pulled at these times. model-recommendations names the last.
MODELS = (
    {
        "name": "qwen2.5-coder:32b",
        "size": 19851349898,
        "digest": "b92d6a0bd47ee79114298de0177bf920c05a706d12633950b3936778492bef41",
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

PULL_SECONDS = 3.0  # OLLAMA_STANDIN_PULL_SECONDS: how long a pull's downloads take, whatever the model's size
PULL_LONGEST_S = 24 * 3600  # a pull still running then is cancelled

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


def encoded(status: int, value: object) -> Reply:
    """``json.NewEncoder(w).Encode``, as the /v1 middlewares write their answers: a trailing newline, no charset."""
    return Reply(status, f"{_compact(value)}\n".encode(), "application/json")


def redirect(status: int, location: str, method: str) -> Reply:
    """Go's ``http.Redirect``: a short HTML body for GET and HEAD only."""
    body = f'<a href="{location}">{http.client.responses[status]}</a>.\n\n' if method in ("GET", "HEAD") else ""
    return Reply(status, body.encode(), "text/html; charset=utf-8" if body else None, {"Location": location})


def ndjson(chunks: Iterator[dict]) -> Stream:
    return Stream(NDJSON, (f"{_compact(chunk)}\n".encode() for chunk in chunks))


def sse(events: Iterator[tuple[str | None, object]], sort_keys: bool = False) -> Stream:
    """Server-sent events: ``event:`` line when named, ``data:`` JSON (or a bare string such as [DONE]).

    ``sort_keys`` for data Ollama builds as Go maps, which ``json.Marshal`` writes with sorted keys.
    """

    def frame(name: str | None, data: object) -> bytes:
        payload = data if isinstance(data, str) else _compact(data, sort_keys)
        return (f"event: {name}\n" if name else "").encode() + f"data: {payload}\n\n".encode()

    return Stream(SSE, (frame(name, data) for name, data in events))


_GO_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def _compact(value: object, sort_keys: bool = False) -> str:
    """Go's ``json.Marshal``: compact, raw UTF-8 (U+FFFD for a lone surrogate), ``<>&`` and U+2028/9 escaped.

    >>> _compact({"text": "<café>"})
    '{"text":"\\\\u003ccafé\\\\u003e"}'
    """
    written = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys)
    return re.sub("[\ud800-\udfff]", "\ufffd", written).translate(_GO_ESCAPES)


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
    gone: Callable[[], bool] = lambda: False  # whether the client hung up (Go cancels the request's context)

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
    configured = env(environ, "OLLAMA_ORIGINS")
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
    """Now as Go writes a ``time.Time`` in UTC: RFC 3339, nanoseconds without trailing zeros."""
    now = time.time_ns()
    fraction = f"{now % 10**9:09d}".rstrip("0")
    return datetime.fromtimestamp(now // 10**9, UTC).strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def _tagged(name: str) -> str:
    """A model name as Ollama normalises it: an untagged name means ``:latest``."""
    return name if ":" in name else f"{name}:latest"


def store() -> Store:
    """The model store OLLAMA_MODELS names (see ollama_store), read afresh by every request as Ollama's are."""
    return Store(models_dir(os.environ))


def find_model(name: str) -> Installed | None:
    """The model ``name`` names, in any case (Ollama adopts the casing of the model it has); None when the
    store has none."""
    try:
        return store().find(name)
    except StoreError:
        return None


def _listing(model: Installed) -> dict:
    """An api.ListModelResponse."""
    name = model.name.shortest
    return {"name": name, "model": name, "modified_at": model.modified_at, "size": model.size,
            "digest": model.digest, "details": store().details(model)}


def _openai_model(model: Installed) -> dict:
    return {"id": model.name.shortest, "object": "model", "created": model.modified_ns // 10**9, "owned_by": "library"}


def _flag(name: str) -> bool:
    """A yes/no variable of the environment: unset, empty, 0 and false are no."""
    return env(os.environ, name) not in ("", "0", "false")


def _number(text: str, default: float) -> float:
    """A positive number of the environment, else ``default``."""
    try:
        value = float(text)
    except ValueError:
        return default
    return value if 0 < value < math.inf else default


def root(request: Request) -> Reply:
    return text(200, "Ollama is running")


def version(request: Request) -> Reply:
    return as_json(200, {"version": VERSION})


def tags(request: Request) -> Reply:
    """ListHandler: the store's models, newest first."""
    try:
        models = store().installed()
    except StoreError as error:
        return as_json(500, {"error": str(error)})
    return as_json(200, {"models": [_listing(model) for model in models]})


def running(request: Request) -> Reply:
    """PsHandler: the loaded models, the longest left first."""
    return as_json(200, {"models": RUNNERS.loaded()})


def status(request: Request) -> Reply:
    disabled = _flag("OLLAMA_NO_CLOUD")
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
    """The request's ``stream``; ``default`` when it is absent or null, as Go leaves a nil ``*bool``."""
    value = body.get("stream")
    return default if value is None else bool(value)


def progress(*steps: str) -> Callable[[Request], Reply | Stream]:
    """push, create: an NDJSON progress stream (or its last line with stream false)."""

    def handler(request: Request) -> Reply | Stream:
        body = _body_or_error(request)
        if isinstance(body, Reply):
            return body
        if not _wants_stream(body, True):
            return as_json(200, {"status": "success"})
        return ndjson({"status": step} for step in (*steps, "success"))

    return handler


def show(request: Request) -> Reply:
    """ShowHandler: the model named by ``model``, else by ``name`` (the Go client writes both, one empty)."""
    body = _body_or_error(request)
    if isinstance(body, Reply):
        return body
    name = _string(body.get("model")) or _string(body.get("name"))
    if not name:
        return as_json(400, {"error": "model is required"})
    model = find_model(name)
    if model is None:
        return as_json(404, {"error": f"model '{_tagged(name)}' not found"})
    details = store().details(model)
    return as_json(200, {
        "modelfile": f"FROM {model.name.shortest}\n", "parameters": "stop \"<|eot_id|>\"",
        "template": "{{ .Prompt }}", "details": details,
        "model_info": {"general.architecture": details["family"], f"{details['family']}.context_length": 131072},
        "capabilities": ["completion", "tools"], "modified_at": model.modified_at,
    })


def delete(request: Request) -> Reply:
    """DeleteHandler: the manifest and the blobs no other model uses; a loaded model stays loaded."""
    body = _body_or_error(request)
    if isinstance(body, Reply):
        return body
    name = _string(body.get("model")) or _string(body.get("name"))
    if not name.strip():
        return as_json(400, {"error": "model is required"})
    if not Name.parse(name).valid:
        return as_json(400, {"error": f"name {json.dumps(name)} is invalid"})
    model = find_model(name)
    if model is None:
        return as_json(404, {"error": f"model '{name}' not found"})
    try:
        store().remove(model)
    except (OSError, StoreError) as error:
        return as_json(500, {"error": str(error)})
    return Reply(200)


def pull(request: Request) -> Reply | Stream:
    """PullHandler: the pull runs in a thread of its own (ollama_pull); NDJSON progress, errors in the 200
    stream; with stream false one answer, ``{"status":"success"}`` or a 500 with the error."""
    body = _body_or_error(request)
    if isinstance(body, Reply):
        return body
    name = Name.parse(_string(body.get("model")) or _string(body.get("name")))
    if not name.valid:
        return as_json(400, {"error": "invalid model name"})
    try:
        name = store().existing_name(name)
    except StoreError as error:
        return as_json(400, {"error": str(error)})
    job = PullJob(name)
    if not _wants_stream(body, True):
        return job.answer(request.gone)
    return Stream(NDJSON, job.lines(request.gone))


class PullJob:
    """A pull and the events it queues, for one request; the client going away cancels it."""

    def __init__(self, name: Name) -> None:
        self.events: queue.Queue[dict | None] = queue.Queue()
        self.cancelled = threading.Event()
        self.deadline = time.monotonic() + PULL_LONGEST_S
        seconds = _number(env(os.environ, "OLLAMA_STANDIN_PULL_SECONDS"), PULL_SECONDS)
        registry = ollama_pull.Registry(USER_AGENT, env(os.environ, "OLLAMA_STANDIN_REGISTRY") or None)
        self.pull = ollama_pull.Pull(store(), registry, name, self.events.put, self.cancelled, seconds,
                                     _flag("OLLAMA_NOPRUNE"))
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        try:
            ollama_pull.pull_model(self.pull)
        except (ollama_pull.PullError, StoreError) as error:
            self.events.put({"error": str(error)})
        except OSError as error:
            self.events.put({"error": f"{error.filename}: {os.strerror(error.errno).lower()}"})
        finally:
            self.events.put(None)

    def _next(self, gone: Callable[[], bool]) -> dict | None:
        """The next event, or None at the end; meanwhile a client that hung up cancels the pull."""
        while time.monotonic() < self.deadline:
            try:
                return self.events.get(timeout=0.1)
            except queue.Empty:
                if gone():
                    self.cancelled.set()
        self.cancelled.set()
        return {"error": "context deadline exceeded"}

    def lines(self, gone: Callable[[], bool]) -> Iterator[bytes]:
        try:
            while (event := self._next(gone)) is not None:
                yield f"{_compact(event)}\n".encode()
                if "error" in event:
                    return
        finally:
            self.cancelled.set()  # the answer ended: a pull still running has nobody to report to

    def answer(self, gone: Callable[[], bool]) -> Reply:
        """waitForStream: the last event, or the error as a 500."""
        latest: dict = {}
        while (event := self._next(gone)) is not None:
            if "error" in event:
                return as_json(500, event)
            latest = event
        return as_json(200, latest)


def transcription(request: Request) -> Reply:
    return as_json(200, {"text": "".join(WORDS)})


def list_openai_models(request: Request) -> Reply:
    return encoded(200, {"object": "list", "data": [_openai_model(model) for model in store().installed()]})


def retrieve_openai_model(request: Request) -> Reply:
    """RetrieveMiddleware over ShowHandler: a missing model is show's 404, as an OpenAI error."""
    name = request.params["model"]
    model = find_model(name)
    if model is None:
        return _handler_error("openai", 404, f"model '{_tagged(name)}' not found")
    return encoded(200, {**_openai_model(model), "id": name})  # ToModel: the id as the path gave it


# --- Embeddings (EmbedHandler, EmbeddingsHandler, the /v1 EmbeddingsMiddleware) -------------

EMBEDDING_LENGTH = 8


def embed(request: Request) -> Reply | Stream:
    return _with_model(request, _embed, missing=_not_pulled)


def _embed(body: dict) -> Reply:
    """/api/embed: one L2-normalised vector per input text; an empty input has none."""
    texts = _embed_inputs(body.get("input"))
    if texts is None:
        return as_json(400, {"error": "invalid input type"})
    if not texts:
        return as_json(200, {"model": body["model"], "embeddings": []})
    vectors = _embeddings(texts, body.get("dimensions"))
    return as_json(200, {"model": body["model"], "embeddings": [[_float32_json(value) for value in vector]
                                                               for vector in vectors],
                         "total_duration": 14_000_000, "load_duration": 1_000_000, "prompt_eval_count": _tokens_in(texts)})


def embeddings(request: Request) -> Reply | Stream:
    return _with_model(request, _embedding, missing=_not_pulled)


def _embedding(body: dict) -> Reply:
    """/api/embeddings, the older route: the model's vector for ``prompt``, not normalised, as float64s."""
    prompt = _string(body.get("prompt"))
    return as_json(200, {"embedding": _raw_embedding(prompt) if prompt else []})


def openai_embeddings(request: Request) -> Reply | Stream:
    """/v1/embeddings: the middleware's checks of ``encoding_format`` and ``input``, then /api/embed as a list."""
    body = _body_or_error(request, "openai")
    if isinstance(body, Reply):
        return body
    encoding = _string(body.get("encoding_format"))
    if encoding.lower() not in ("", "float", "base64"):
        return as_json(400, _error_body("openai", 400, f"Invalid value for 'encoding_format' = {encoding}. "
                                                       "Supported values: ['float', 'base64']."))
    if body.get("input") is None or body.get("input") == []:
        return as_json(400, _error_body("openai", 400, "invalid input"))
    return _known_model(body, lambda body: _openai_embeddings(body, encoding.lower() == "base64"), "openai", _not_pulled)


def _openai_embeddings(body: dict, base64_wanted: bool) -> Reply:
    texts = _embed_inputs(body["input"] or [""])  # the middleware turns "" into [""]
    if texts is None:
        return _handler_error("openai", 400, "invalid input type")
    vectors = _embeddings(texts, body.get("dimensions"))
    data = [{"object": "embedding",
             "embedding": _base64_floats(vector) if base64_wanted else [_float32_json(value) for value in vector],
             "index": index} for index, vector in enumerate(vectors)]
    usage = {"prompt_tokens": _tokens_in(texts), "total_tokens": _tokens_in(texts)}
    return encoded(200, {"object": "list", "data": data, "model": body["model"], "usage": usage})


def _embed_inputs(value: object) -> list[str] | None:
    """EmbedHandler's input as texts: a string (none when empty) or a list of strings; None when it is neither."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    return None


def _tokens_in(texts: list[str]) -> int:
    return sum(max(1, len(text.split())) for text in texts)


def _raw_embedding(text: str) -> list[float]:
    """The model's vector for a text: float32s drawn from its SHA-256, each 0.05 to 0.95 in size (never tiny,
    so Python writes each number with the digits Go writes)."""
    digest = hashlib.sha256(text.encode("utf-8", "replace")).digest()
    words = [int.from_bytes(digest[2 * i:2 * i + 2], "big") for i in range(EMBEDDING_LENGTH)]
    return [_float32((-1 if word & 0x8000 else 1) * (0.05 + 0.9 * (word & 0x7FFF) / 0x8000)) for word in words]


def _embeddings(texts: list[str], dimensions: object) -> list[list[float]]:
    """EmbedHandler's vectors: normalised, then cut to ``dimensions`` and normalised again when that is fewer."""
    vectors = [_normalised(_raw_embedding(text)) for text in texts]
    if isinstance(dimensions, int) and 0 < dimensions < EMBEDDING_LENGTH:
        return [_normalised(vector[:dimensions]) for vector in vectors]
    return vectors


def _normalised(vector: list[float]) -> list[float]:
    """``normalize`` in routes.go, in float32 arithmetic as Go does it."""
    total = 0.0
    for value in vector:
        total = _float32(total + _float32(value * value))
    scale = _float32(1 / max(math.sqrt(total), 1e-12))
    return [_float32(value * scale) for value in vector]


def _float32(value: float) -> float:
    """``value`` rounded to a float32."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


def _float32_json(value: float) -> float:
    """A float32 as Go's ``json.Marshal`` writes it: the fewest digits that read back as that float32.

    >>> _float32_json(_float32(0.1))
    0.1
    """
    return next(short for digits in range(1, 10) if _float32(short := float(f"{value:.{digits}g}")) == value)


def _base64_floats(vector: list[float]) -> str:
    """``floatsToBase64``: the vector as little-endian float32s, in standard base64."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


# --- Generations: the model's answer, then each API's framing of it -------------------------------

PROMPT_TOKENS = 26  # every prompt's prompt_eval_count


@dataclass
class Answer:
    """What the model says to one request: text tokens, or one call of a tool the request offers."""

    words: list[str]
    done_reason: str  # Ollama's: "stop" when the model ended it, "length" when the request's limit cut it
    call: dict | None = None  # an api.ToolCall: {"id", "function": {"index", "name", "arguments"}}

    @property
    def eval_count(self) -> int:
        return 1 if self.call else len(self.words)

    def pieces(self) -> Iterator[str | dict]:
        """Each token, or the tool call, after the configured pause, as the model emits them."""
        interval = int(os.environ.get("OLLAMA_STANDIN_CHUNK_INTERVAL_MS", "10")) / 1000
        for piece in [self.call] if self.call else self.words:
            time.sleep(interval)
            yield piece


def answer(body: dict, turns: object) -> Answer:
    """The answer to a request whose conversation is ``turns`` (its messages, or its Responses input).

    A tool call when the request offers tools and its last turn, the user's, names one of them; else the
    natural answer, OLLAMA_STANDIN_CHUNKS tokens. A limit at or below that cuts it ("length": llama.cpp
    stops at the limit before it samples the end); a higher one changes nothing, unless
    OLLAMA_STANDIN_RUN_TO_LIMIT is set: then every answer with a limit runs to it.
    """
    call = _tool_call(body.get("tools"), turns)
    if call:
        return Answer([], "stop", call)
    natural, limit = int(os.environ.get("OLLAMA_STANDIN_CHUNKS", "5")), _token_limit(body)
    if limit and (limit <= natural or _flag("OLLAMA_STANDIN_RUN_TO_LIMIT")):
        return Answer(_words(limit), "length")
    return Answer(_words(natural), "stop")


def _token_limit(body: dict) -> int | None:
    options = body.get("options") if isinstance(body.get("options"), dict) else {}
    for value in (options.get("num_predict"), body.get("max_tokens"), body.get("max_output_tokens")):
        if isinstance(value, int) and value > 0:
            return value
    return None


def _words(count: int) -> list[str]:
    return list(itertools.islice(itertools.cycle(WORDS), count))


def _text(pieces: list[str | dict]) -> str:
    return "".join(piece for piece in pieces if isinstance(piece, str))


def _calls(pieces: list[str | dict]) -> list[dict]:
    return [piece for piece in pieces if isinstance(piece, dict)]


def _tool_call(tools: object, turns: object) -> dict | None:
    """A call of the first offered tool whose name the user's last turn mentions (as a whole word), with
    arguments made from its schema; None when there is no such tool or the last turn is not the user's
    (a tool's result, say: the model then answers in text)."""
    said = _last_user_text(turns)
    for name, schema in _offered_tools(tools):
        if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", said):
            call_id = "call_" + "".join(random.choices(string.ascii_lowercase + string.digits, k=8))
            return {"id": call_id, "function": {"index": 0, "name": name, "arguments": _arguments(schema)}}
    return None


def _last_user_text(turns: object) -> str:
    """The text of the conversation's last turn when it is the user's: a Responses input string, or the
    last message's (or input item's) content, a string or text parts."""
    if isinstance(turns, str):
        return turns
    last = turns[-1] if isinstance(turns, list) and turns and isinstance(turns[-1], dict) else {}
    if last.get("role") != "user":  # a tool's result, a function_call_output item: not the user's turn
        return ""
    content = last.get("content")
    parts = content if isinstance(content, list) else [{"text": content}]
    return " ".join(part["text"] for part in parts if isinstance(part, dict) and isinstance(part.get("text"), str))


def _offered_tools(tools: object) -> Iterator[tuple[str, dict]]:
    """(name, argument schema) of each tool, in any API's shape: ``{"function": {name, parameters}}`` (Ollama,
    OpenAI chat), ``{name, parameters}`` (Responses) or ``{name, input_schema}`` (Anthropic)."""
    for tool in tools if isinstance(tools, list) else []:
        spec = tool.get("function", tool) if isinstance(tool, dict) else None
        if isinstance(spec, dict) and _string(spec.get("name")):
            schema = spec.get("parameters") or spec.get("input_schema")
            yield spec["name"], schema if isinstance(schema, dict) else {}


ZERO_VALUES = {"string": "", "integer": 0, "number": 0, "boolean": False, "array": [], "object": {}}


def _arguments(schema: dict) -> dict:
    """A value for each required property, in the schema's order: its first enum value, else its type's zero."""
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    required = schema.get("required") if isinstance(schema.get("required"), list) else []
    return {name: _example(spec) for name, spec in properties.items() if name in required}


def _example(spec: object) -> object:
    spec = spec if isinstance(spec, dict) else {}
    if isinstance(spec.get("enum"), list) and spec["enum"]:
        return spec["enum"][0]
    kind = spec.get("type")
    return ZERO_VALUES.get(kind[0] if isinstance(kind, list) and kind else kind)


def stamped(chunk: dict) -> dict:
    """A chunk with its send time: the stand-in writes it out right after this call."""
    return dict(chunk, standin_sent_ns=time.time_ns())


def _metrics(count: int) -> dict:
    return {"total_duration": 1_200_000_000, "load_duration": 40_000_000, "prompt_eval_count": PROMPT_TOKENS,
            "prompt_eval_duration": 90_000_000, "eval_count": count, "eval_duration": count * 12_000_000}


def generate(request: Request) -> Reply | Stream:
    return _with_model(request, _generate)


def _generate(body: dict) -> Reply | Stream:
    """/api/generate: the prompt's answer; no prompt loads the model, or unloads it with keep_alive 0."""
    if not _string(body.get("prompt")):
        return _loaded(body, {"response": ""})
    said = answer(body, None)
    context = {} if body.get("raw") else {"context": list(range(1, PROMPT_TOKENS + said.eval_count + 1))}
    final = {"done": True, "done_reason": said.done_reason, **context, **_metrics(said.eval_count)}
    return _native(body, said, lambda pieces: {"response": _text(pieces)}, final)


def chat(request: Request) -> Reply | Stream:
    return _with_model(request, _chat)


def _chat(body: dict) -> Reply | Stream:
    """/api/chat: the messages' answer, text or tool calls; no messages loads the model, or unloads it."""
    if not body.get("messages"):
        return _loaded(body, {"message": {"role": "assistant", "content": ""}})
    said = answer(body, body["messages"])
    final = {"done": True, "done_reason": said.done_reason, **_metrics(said.eval_count)}
    return _native(body, said, lambda pieces: {"message": _chat_message(pieces)}, final)


def _chat_message(pieces: list[str | dict]) -> dict:
    """An api.Message: the pieces' text, and their tool calls when there are any."""
    message = {"role": "assistant", "content": _text(pieces)}
    return {**message, "tool_calls": _calls(pieces)} if _calls(pieces) else message


def _loaded(body: dict, empty: dict) -> Reply:
    """The answer to a request with nothing to generate: done_reason unload with keep_alive 0, else load."""
    reason = "unload" if keep_alive(body.get("keep_alive")) == 0 else "load"
    return as_json(200, {"model": body["model"], "created_at": _now_rfc3339(), **empty, "done": True,
                         "done_reason": reason})


def _native(body: dict, said: Answer, content: Callable[[list], dict], final: dict) -> Reply | Stream:
    """/api/generate and /api/chat: NDJSON by default, one chunk per piece then the final one (api/types.go's
    field order); with stream false, one object holding everything."""

    def chunk(pieces: list, rest: dict) -> dict:
        return {"model": body["model"], "created_at": _now_rfc3339(), **content(pieces), **rest}

    def chunks() -> Iterator[dict]:
        for piece in said.pieces():
            yield stamped(chunk([piece], {"done": False}))
        yield stamped(chunk([], final))

    return ndjson(chunks()) if _wants_stream(body, True) else as_json(200, chunk(list(said.pieces()), final))


def chat_completions(request: Request) -> Reply | Stream:
    return _with_model(request, _chat_completions, "openai")


def _chat_completions(body: dict) -> Reply | Stream:
    """/v1/chat/completions as ChatMiddleware writes it: the role in the first delta only, then a finish chunk
    with an empty delta ("tool_calls" after a tool call), the usage chunk if asked, [DONE]."""
    said = answer(body, body.get("messages"))
    head = {"id": f"chatcmpl-{random.randrange(999)}", "object": "chat.completion", "created": int(time.time()),
            "model": body["model"], "system_fingerprint": "fp_ollama"}
    usage = _openai_usage(said)
    finish = "tool_calls" if said.call else said.done_reason
    if not _wants_stream(body, False):
        pieces = list(said.pieces())
        message = {"role": "assistant", "content": _text(pieces), **_openai_tool_calls(pieces)}
        return encoded(200, {**head, "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                             "usage": usage})
    head["object"] = "chat.completion.chunk"

    def events() -> Iterator[tuple[None, object]]:
        for position, piece in enumerate(said.pieces()):
            delta = {**({"role": "assistant"} if position == 0 else {}), "content": _text([piece]),
                     **_openai_tool_calls([piece])}
            yield None, stamped({**head, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        yield None, stamped({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            yield None, stamped({**head, "choices": [], "usage": usage})
        yield None, "[DONE]"

    return sse(events())


def _openai_usage(said: Answer) -> dict:
    return {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": said.eval_count,
            "total_tokens": PROMPT_TOKENS + said.eval_count}


def _openai_tool_calls(pieces: list[str | dict]) -> dict:
    """``tool_calls`` as ``ToToolCalls`` writes them (arguments as a JSON string), or nothing."""
    calls = [{"id": call["id"], "index": call["function"]["index"], "type": "function",
              "function": {"name": call["function"]["name"], "arguments": _compact(call["function"]["arguments"])}}
             for call in _calls(pieces)]
    return {"tool_calls": calls} if calls else {}


def completions(request: Request) -> Reply | Stream:
    return _with_model(request, _completions, "openai")


def _completions(body: dict) -> Reply | Stream:
    """/v1/completions as CompleteWriter writes it: one chunk per generate chunk (choices before model)."""
    said = answer(body, None)
    head = {"id": f"cmpl-{random.randrange(999)}", "object": "text_completion", "created": int(time.time())}
    tail = {"model": body["model"], "system_fingerprint": "fp_ollama"}

    def choice(piece: str, reason: str | None) -> dict:
        return {"text": piece, "index": 0, "finish_reason": reason}

    if not _wants_stream(body, False):
        return encoded(200, {**head, **tail, "choices": [choice(_text(list(said.pieces())), said.done_reason)],
                             "usage": _openai_usage(said)})
    with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    zero = {"usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}} if with_usage else {}

    def events() -> Iterator[tuple[None, object]]:
        for piece in said.pieces():
            yield None, stamped({**head, "choices": [choice(piece, None)], **tail, **zero})
        yield None, stamped({**head, "choices": [choice("", said.done_reason)], **tail, **zero})
        if with_usage:
            yield None, stamped({**head, "choices": [], **tail, "usage": _openai_usage(said)})
        yield None, "[DONE]"

    return sse(events())


def messages(request: Request) -> Reply | Stream:
    return _with_model(request, _messages, "anthropic")


STOP_REASONS = {"stop": "end_turn", "length": "max_tokens"}  # anthropic.mapStopReason


def _messages(body: dict) -> Reply | Stream:
    """/v1/messages: anthropic.StreamConverter's events in its order; a tool call is a tool_use block."""
    said = answer(body, body.get("messages"))
    stop = "tool_use" if said.call else STOP_REASONS[said.done_reason]
    message = {"id": f"msg_{secrets.token_hex(12)}", "type": "message", "role": "assistant", "model": body["model"]}
    usage = {"input_tokens": PROMPT_TOKENS, "output_tokens": said.eval_count}
    if not _wants_stream(body, False):
        pieces = list(said.pieces())
        text_block = [{"type": "text", "text": _text(pieces)}] if _text(pieces) else []
        content = text_block + [_tool_use(call, call["function"]["arguments"]) for call in _calls(pieces)]
        return encoded(200, {**message, "content": content, "stop_reason": stop, "usage": usage})

    def event(kind: str, **fields: object) -> tuple[str, dict]:
        return kind, stamped({"type": kind, **fields})

    def events() -> Iterator[tuple[str, dict]]:
        pieces = said.pieces()
        first = next(pieces, None)
        yield event("message_start", message={**message, "content": [],
                                              "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": 0}})
        if isinstance(first, dict):
            yield event("content_block_start", index=0, content_block=_tool_use(first, {}))
            yield event("content_block_delta", index=0, delta={
                "type": "input_json_delta", "partial_json": _compact(first["function"]["arguments"])})
            yield event("content_block_stop", index=0)
        elif first is not None:
            yield event("content_block_start", index=0, content_block={"type": "text", "text": ""})
            for token in itertools.chain([first], pieces):
                yield event("content_block_delta", index=0, delta={"type": "text_delta", "text": token})
            yield event("content_block_stop", index=0)
        yield event("message_delta", delta={"stop_reason": stop}, usage=usage)
        yield event("message_stop")

    return sse(events())


def _tool_use(call: dict, arguments: dict) -> dict:
    return {"type": "tool_use", "id": call["id"], "name": call["function"]["name"], "input": arguments}


def responses(request: Request) -> Reply | Stream:
    return _with_model(request, _responses, "openai")


def _responses(body: dict) -> Reply | Stream:
    """/v1/responses: ResponsesMiddleware over the chat handler (openai/responses.go). Ollama reports an
    answer cut at max_output_tokens as completed too: its usage shows the cut."""
    said = answer(body, body.get("input"))
    response_id, item_id = f"resp_{random.randrange(999999)}", f"msg_{random.randrange(999999)}"
    if _wants_stream(body, False):
        return sse(_responses_events(body, said, response_id, item_id), sort_keys=True)
    pieces = list(said.pieces())
    output = ([_function_call_item(f"fc_{response_id}_0", call) for call in _calls(pieces)]
              or [_message_item(item_id, _text(pieces))])
    now = int(time.time())
    return encoded(200, _response(body, response_id, "completed", output, _responses_usage(said), now, now))


def _responses_events(body: dict, said: Answer, response_id: str, item_id: str) -> Iterator[tuple[str, dict]]:
    """ResponsesStreamConverter's events: created and in_progress with the first piece, the message's (or
    the function call's) events, then completed. Every event's data is a Go map: its keys come out sorted."""
    sequence = itertools.count()

    def event(kind: str, **data: object) -> tuple[str, dict]:
        return kind, stamped({**data, "type": kind, "sequence_number": next(sequence)})

    def response(status: str, output: list | None, usage: dict | None = None, done: bool = False) -> dict:
        now = int(time.time())
        return _response(body, response_id, status, output, usage, now, now if done else None, streamed=True)

    pieces = said.pieces()
    first = next(pieces, None)
    yield event("response.created", response=response("in_progress", []))
    yield event("response.in_progress", response=response("in_progress", []))
    output = None  # buildFinalOutput's, when the model said nothing at all
    if isinstance(first, dict):
        output = [_function_call_item(f"fc_{random.randrange(999999)}_0", first)]
        yield from _function_call_events(event, output[0])
    elif first is not None:
        said_text = yield from _message_events(event, item_id, itertools.chain([first], pieces))
        output = [_message_item(item_id, said_text)]
    yield event("response.completed", response=response("completed", output, _responses_usage(said), done=True))


def _message_events(event: Callable[..., tuple[str, dict]], item_id: str,
                    tokens: Iterator[str]) -> Iterator[tuple[str, dict]]:
    """The message item's events: added, its part added, one delta per token, then done; returns the text."""
    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    yield event("response.output_item.added", output_index=0, item=_message_item(item_id, None))
    yield event("response.content_part.added", **where, part=_output_text(""))
    said = ""
    for token in tokens:
        said += token
        yield event("response.output_text.delta", **where, delta=token, logprobs=[])
    yield event("response.output_text.done", **where, text=said, logprobs=[])
    yield event("response.content_part.done", **where, part=_output_text(said))
    yield event("response.output_item.done", output_index=0, item=_message_item(item_id, said))
    return said


def _function_call_events(event: Callable[..., tuple[str, dict]], item: dict) -> Iterator[tuple[str, dict]]:
    """``emitFunctionCallEvents``: the item added, its whole arguments as one delta, done."""
    where = {"item_id": item["id"], "output_index": 0}
    yield event("response.output_item.added", output_index=0, item={**item, "status": "in_progress", "arguments": ""})
    yield event("response.function_call_arguments.delta", **where, delta=item["arguments"])
    yield event("response.function_call_arguments.done", **where, arguments=item["arguments"])
    yield event("response.output_item.done", output_index=0, item=item)


def _message_item(item_id: str, said: str | None) -> dict:
    """An output message item, in progress and empty while ``said`` is None."""
    content = [] if said is None else [_output_text(said)]
    return {"id": item_id, "type": "message", "status": "in_progress" if said is None else "completed",
            "role": "assistant", "content": content}


def _output_text(said: str) -> dict:
    return {"type": "output_text", "text": said, "annotations": [], "logprobs": []}


def _function_call_item(item_id: str, call: dict) -> dict:
    return {"id": item_id, "type": "function_call", "status": "completed", "call_id": call["id"],
            "name": call["function"]["name"], "arguments": _compact(call["function"]["arguments"])}


def _responses_usage(said: Answer) -> dict:
    return {"input_tokens": PROMPT_TOKENS, "output_tokens": said.eval_count,
            "total_tokens": PROMPT_TOKENS + said.eval_count, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0}}


def _response(body: dict, response_id: str, status: str, output: list | None, usage: dict | None, created_at: int,
              completed_at: int | None, streamed: bool = False) -> dict:
    """A response object in ResponsesResponse's field order, echoing the request as Ollama does."""
    return {
        "id": response_id, "object": "response", "created_at": created_at, "completed_at": completed_at,
        "status": status, "incomplete_details": None, "model": body["model"], "previous_response_id": None,
        "instructions": _string(body.get("instructions")) or None, "output": output, "error": None,
        "tools": [_response_tool(tool) for tool in body.get("tools") or [] if isinstance(tool, dict)],
        "tool_choice": "auto", "truncation": _string(body.get("truncation")) or "disabled",
        "parallel_tool_calls": True, "text": {"format": _text_format(body)}, "top_p": _go_float(body.get("top_p")),
        "presence_penalty": 0, "frequency_penalty": 0, "top_logprobs": 0,
        "temperature": _go_float(body.get("temperature")), "reasoning": _reasoning(body, streamed), "usage": usage,
        "max_output_tokens": body.get("max_output_tokens"), "max_tool_calls": None, "store": False,
        "background": bool(body.get("background")), "service_tier": "default", "metadata": {},
        "safety_identifier": None, "prompt_cache_key": None,
    }


def _response_tool(tool: dict) -> dict:
    """A request tool echoed as a ResponsesTool; its parameters are a Go map (sorted keys)."""
    parameters = tool.get("parameters")
    return {"type": _string(tool.get("type")), "name": _string(tool.get("name")),
            "description": tool.get("description"), "strict": tool.get("strict"),
            "parameters": None if parameters is None else json.loads(json.dumps(parameters, sort_keys=True))}


def _text_format(body: dict) -> dict:
    """``text.format``: the request's (its name, schema and strict only when set), else plain text."""
    text_field = body.get("text") if isinstance(body.get("text"), dict) else {}
    wanted = text_field.get("format") if isinstance(text_field.get("format"), dict) else {"type": "text"}
    return {"type": _string(wanted.get("type")), **({"name": wanted["name"]} if wanted.get("name") else {}),
            **{key: wanted[key] for key in ("schema", "strict") if wanted.get(key) is not None}}


def _reasoning(body: dict, streamed: bool) -> dict | None:
    """The request's reasoning effort and summary, or null; the streamed map writes an unset one as null."""
    asked = body.get("reasoning") if isinstance(body.get("reasoning"), dict) else {}
    echoed = {key: _string(asked.get(key)) or None for key in ("effort", "summary")}
    if not any(echoed.values()):
        return None
    return echoed if streamed else {key: value for key, value in echoed.items() if value}


def _go_float(value: object) -> object:
    """A float64 request value (1 when unset) as Go writes it: no ``.0`` on a whole number."""
    number = 1 if value is None else value
    return int(number) if isinstance(number, float) and number.is_integer() else number


# --- Bodies, models and errors in each API's shape -------------------------------------------

OPENAI_ERROR_TYPES = {400: "invalid_request_error", 404: "not_found_error"}  # openai.NewError
ANTHROPIC_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                         404: "not_found_error", 429: "rate_limit_error", 503: "overloaded_error",
                         529: "overloaded_error"}  # anthropic.NewError


def _string(value: object) -> str:
    """A string field as Go decodes it into a string: "" when absent or null."""
    return value if isinstance(value, str) else ""


def _error_body(api: str, status: int, message: str) -> dict:
    """An error in the shape of ``api``: Ollama's ``{"error"}``, ``openai.NewError`` or ``anthropic.NewError``."""
    if api == "openai":
        return {"error": {"message": message, "type": OPENAI_ERROR_TYPES.get(status, "api_error"), "param": None,
                          "code": None}}
    if api == "anthropic":
        return {"type": "error", "error": {"type": ANTHROPIC_ERROR_TYPES.get(status, "api_error"), "message": message},
                "request_id": f"req_{secrets.token_hex(12)}"}
    return {"error": message}


def _handler_error(api: str, status: int, message: str) -> Reply:
    """An error of Ollama's handler: gin's ``c.JSON`` on /api, rewritten by the middleware's writer on /v1."""
    body = _error_body(api, status, message)
    return as_json(status, body) if api == "ollama" else encoded(status, body)


def _body_or_error(request: Request, api: str = "ollama") -> dict | Reply:
    """The JSON body, or the 400 each API family answers for a bad one."""
    try:
        return request.json_body()
    except (ValueError, TypeError) as error:
        return as_json(400, _error_body(api, 400, str(error)))


def _not_found(name: str) -> str:
    return f"model '{name}' not found"


def _not_pulled(name: str) -> str:
    """``handleScheduleError`` for a model that is not there: the embedding routes' 404."""
    return f"model {json.dumps(name)} not found, try pulling it first"


def _with_model(request: Request, respond: Callable[[dict], Reply | Stream], api: str = "ollama",
                missing: Callable[[str], str] = _not_found) -> Reply | Stream:
    """Run ``respond(body)`` for a body naming a known model; a 404 in ``api``'s error shape otherwise."""
    body = _body_or_error(request, api)
    return body if isinstance(body, Reply) else _known_model(body, respond, api, missing)


def _known_model(body: dict, respond: Callable[[dict], Reply | Stream], api: str,
                 missing: Callable[[str], str]) -> Reply | Stream:
    """``respond(body)`` with the model loaded for as long as the answer lasts (then its keep_alive runs: the
    body's on Ollama's own API, the default on the /v1 ones); a 404 for a model the store does not have."""
    name = _string(body.get("model"))
    model = find_model(name)
    if model is None:
        return _handler_error(api, 404, missing(name))
    try:
        duration = keep_alive(body.get("keep_alive") if api == "ollama" else None)
    except ValueError as error:
        return _handler_error(api, 400, str(error))
    key = RUNNERS.use(model, store().details(model), duration, _context_length(body))
    return _released(respond(body), lambda: RUNNERS.done(key))


def _context_length(body: dict) -> int:
    """The context a model is loaded with: options.num_ctx, else OLLAMA_CONTEXT_LENGTH, else 4096."""
    options = body.get("options") if isinstance(body.get("options"), dict) else {}
    if isinstance(options.get("num_ctx"), int) and options["num_ctx"] > 0:
        return options["num_ctx"]
    configured = env(os.environ, "OLLAMA_CONTEXT_LENGTH")
    return int(configured) if configured.isdigit() and int(configured) > 0 else 4096


def _released(reply: Reply | Stream, done: Callable[[], None]) -> Reply | Stream:
    """The answer, calling ``done`` once it is all out (a stream: at its end, or when it is closed)."""
    if isinstance(reply, Reply):
        done()
        return reply
    return Stream(reply.content_type, Released(reply.chunks, done), reply.status)


class Released:
    """An iterator of chunks that calls ``done`` once: at its end, or when closed unfinished."""

    def __init__(self, chunks: Iterator[bytes], done: Callable[[], None]) -> None:
        self._chunks, self._done, self._pending = chunks, done, True

    def __iter__(self) -> Released:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._chunks)
        except StopIteration:
            self.close()
            raise

    def close(self) -> None:
        if self._pending:
            self._pending = False
            getattr(self._chunks, "close", lambda: None)()
            self._done()


# --- Loaded models (the scheduler) -------------------------------------------------------------

FOREVER_NS = 2**63 - 1  # Go's time.Duration(math.MaxInt64): a keep_alive below 0
DURATION_UNITS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
                  "h": 3600 * 10**9}


def go_duration(text: str) -> int:
    """``time.ParseDuration`` in nanoseconds; ValueError with Go's message.

    >>> [go_duration(value) for value in ("0", "5m", "1h30m", "-1s", "0.5s")]
    [0, 300000000000, 5400000000000, -1000000000, 500000000]
    """
    rest = text[1:] if text[:1] in "+-" else text
    if rest == "0":
        return 0
    total = 0.0
    if not rest:
        raise ValueError(f'time: invalid duration "{text}"')
    while rest:
        number, unit = re.match(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]*)", rest).groups()
        if number in ("", "."):
            raise ValueError(f'time: invalid duration "{text}"')
        if not unit:
            raise ValueError(f'time: missing unit in duration "{text}"')
        if unit not in DURATION_UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{text}"')
        total += float(number) * DURATION_UNITS[unit]
        rest = rest[len(number) + len(unit):]
    return int(-total if text.startswith("-") else total)


def keep_alive(value: object) -> int:
    """``keep_alive`` as api.Duration reads it, in ns: seconds as a number, or a Go duration; below 0 is
    forever. Absent or null: OLLAMA_KEEP_ALIVE (a duration or seconds), else 5 minutes.

    >>> [keep_alive(value) for value in (0, "0s", 1.5, "-1m")] == [0, 0, 1500000000, FOREVER_NS]
    True
    """
    if value is None:
        configured = env(os.environ, "OLLAMA_KEEP_ALIVE")
        try:
            duration = go_duration(configured)
        except ValueError:
            duration = int(configured) * 10**9 if re.fullmatch(r"-?[0-9]+", configured) else 300 * 10**9
    elif isinstance(value, int | float) and not isinstance(value, bool):
        duration = int(value * 10**9)
    elif isinstance(value, str):
        duration = go_duration(value)
    else:
        go_type = {bool: "bool", list: "[]interface {}", dict: "map[string]interface {}"}[type(value)]
        raise ValueError(f"Unsupported type: '{go_type}'")
    return FOREVER_NS if duration < 0 else duration


@dataclass
class Runner:
    """A loaded model: what /api/ps says of it, and how long it stays."""

    listing: dict  # name, model, size, digest, details
    context_length: int
    duration_ns: int
    requests: int = 0
    expires_ns: int | None = None  # set when its last request ends


class Runners:
    """The scheduler's loaded models. A request with a model loads it (its size, all on the GPU as on Apple
    Silicon); once its last request is done the model stays for that keep_alive (0: unloaded at once), then
    goes. Deleting a model does not unload it; a generation with keep_alive 0 does (``ollama rm``'s)."""

    def __init__(self) -> None:
        self._loaded: dict[str, Runner] = {}
        self._lock = threading.Lock()

    def use(self, model: Installed, details: dict, duration_ns: int, context_length: int) -> str:
        key = model.name.shortest
        listing = {"name": key, "model": key, "size": model.size, "digest": model.digest, "details": details}
        with self._lock:
            runner = self._loaded.setdefault(key, Runner(listing, context_length, duration_ns))
            runner.requests += 1
            runner.duration_ns, runner.expires_ns = duration_ns, None
        return key

    def done(self, key: str) -> None:
        with self._lock:
            runner = self._loaded[key]
            runner.requests -= 1
            if runner.requests > 0:
                return
            if runner.duration_ns <= 0:
                del self._loaded[key]
            else:
                runner.expires_ns = time.time_ns() + runner.duration_ns

    def loaded(self) -> list[dict]:
        """api.ProcessModelResponse of each model still loaded, the longest left first."""
        now = time.time_ns()
        with self._lock:
            for key in [key for key, runner in self._loaded.items() if runner.expires_ns and runner.expires_ns <= now]:
                del self._loaded[key]
            runners = list(self._loaded.values())
        models = [(runner.expires_ns or now + runner.duration_ns, runner) for runner in runners]
        return [{**runner.listing, "expires_at": go_time(expires), "size_vram": runner.listing["size"],
                 "context_length": runner.context_length}
                for expires, runner in sorted(models, key=lambda pair: pair[0], reverse=True)]


RUNNERS = Runners()


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
    ("POST", "/api/pull", pull),
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
        request = Request(self.command, target, path, query, host, headers, body, gone=self._client_gone)
        refusal = net_http_refusal(request, self.request_version)
        if refusal:
            reply: Reply | Stream = text(400, f"400 Bad Request: {refusal}")
        else:
            reply = dispatch(request, self.server.origins, self.server.checks_host)
        self._send(reply, close=bool(refusal))
        self._log(request, reply.status, time.monotonic() - started)

    def _client_gone(self) -> bool:
        """Whether the client closed its end: readable, and nothing to read."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

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
        try:
            for chunk in stream.chunks:
                self.wfile.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        finally:
            getattr(stream.chunks, "close", lambda: None)()  # what the answer holds (a pull, a loaded model) ends

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


# --- ollama serve, and the CLI ------------------------------------------------------------


def serve(arguments: list[str]) -> int:
    """RunServer: listen, then make the store's blobs/ and prune it (unless OLLAMA_NOPRUNE), then serve."""
    if arguments:
        print(f"Error: accepts 0 arg(s), received {len(arguments)}", file=sys.stderr)
        return 1
    host, port = parse_ollama_host(env(os.environ, "OLLAMA_HOST"))
    try:
        server = OllamaServer(host, port)
    except OSError as error:
        print(f"Error: listen tcp {_join_host_port(host, port)}: bind: {error.strerror.lower()}", file=sys.stderr)
        return 1
    try:
        if _flag("OLLAMA_NOPRUNE"):
            store().blobs_dir()
        else:
            store().prune()
    except (StoreError, OSError) as error:
        print(f"Error: {error}", file=sys.stderr)
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


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] in (["serve"], ["start"]):
        return serve(arguments[1:])
    return ollama_cli.run(arguments)


if __name__ == "__main__":
    sys.exit(main())
