"""The ways a request reaches the backend, as one list: straight, through a bare
HAProxy, through the project's rendered config, and through that config with one
hardening knob on (issue 5). A new knob is one more entry in ``HARDENING_KNOBS``.

.. code:: python

    for variant in base_variants([]) + knob_variants(workdir, levels=(1, 16, 64), cap=32):
        with running_variant(variant, backend_port, workdir) as endpoint:
            ...  # send requests to endpoint.url with endpoint.request_headers
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.endpoint import Endpoint
from private_ollama.desired_state.settings import Settings
from tests.proxy.haproxy import HAPROXY, check, installed, running_haproxy
from tests.proxy.processes import free_port, spawn, stop, wait_until
from tests.proxy.standin import answers

MODEL = "llama3.2:latest"  # the model every bench request names


@dataclass(frozen=True)
class Variant:
    name: str
    about: str
    settings: dict | None = None  # the rendered config's knobs over the defaults; None: not the project's config
    config: Callable[[int, int, Path], str] | None = None  # else a config of our own: (port, backend port, work dir) -> text
    headers: dict = field(default_factory=dict)  # sent with every request (an API key)
    concurrency: tuple[int, ...] | None = None  # measured only at these; None: at every level


@dataclass(frozen=True)
class Knob:
    """A hardening knob turned on alone over the defaults; it must exist in group_data/all.py."""

    settings: dict
    # Run-time setup in a work dir: more settings and the headers each request needs.
    setup: Callable[[Path], tuple[dict, dict]] = lambda workdir: ({}, {})
    above_cap: bool = False  # also measured above the backend's connection cap, the load it is for


def one_api_key(workdir: Path) -> tuple[dict, dict]:
    """A key store with one client, whose key every request carries."""
    from private_ollama.desired_state.api_keys import KeyStore  # issue 5's module: imported only once its knob exists

    store = workdir / "api-keys.json"
    key = KeyStore(store).add("bench")
    return {"proxy_api_keys_file": str(store)}, {"Authorization": f"Bearer {key}"}


# Limits are set far above the bench's load: what is measured is the cost of counting.
HARDENING_KNOBS: dict[str, Knob] = {
    "API keys": Knob({"proxy_api_keys": True}, one_api_key),
    "rate limit (not reached)": Knob({"proxy_rate_limit_requests": 1_000_000}),
    "per-client concurrency limit (not reached)": Knob({"proxy_client_max_concurrent": 10_000}),
    "model allowlist": Knob({"ollama_allowed_models": [MODEL]}),
    "access log": Knob({"proxy_access_log": True}),
    "queue to Ollama (16 at once)": Knob({"proxy_ollama_max_concurrent": 16}, above_cap=True),
}


def bare_config(port: int, backend_port: int, workdir: Path) -> str:
    """One frontend, one backend, nothing else: the same limits and timeouts as the rendered config."""
    settings = Settings.from_data({})
    return f"""global
    maxconn {settings.proxy_max_connections}
defaults
    mode http
    timeout connect {settings.proxy_timeout_connect}
    timeout client {settings.proxy_timeout_client}
    timeout server {settings.proxy_timeout_server}
frontend bare
    bind 127.0.0.1:{port}
    default_backend ollama
backend ollama
    server ollama 127.0.0.1:{backend_port}
"""


def rendered_without_checks(port: int, backend_port: int, workdir: Path) -> str:
    """The rendered config (default knobs) without its refusals: every `http-request deny` line gone, all
    else kept (HTTP mode, JSON errors, header hygiene, health checks; an `acl` no rule names costs nothing).
    Against the rendered config it shows what the checks cost; against bare, what the rest costs. The files
    the config reads (error bodies, maps) are installed in ``workdir`` as the deploy installs them."""
    settings = Settings.from_data({"proxy_port": port, "ollama_port": backend_port})
    config = installed(settings, workdir, "127.0.0.1").read_text()
    return re.sub(r"^\s*http-request deny .*\n", "", config, flags=re.MULTILINE)


UNCHECKED = Variant("rendered without its checks", "the rendered config with its `http-request deny` "
                    "lines removed: what the checks cost, and what the rest costs", config=rendered_without_checks)


def base_variants(extra_routes: list[tuple[str, str]]) -> list[Variant]:
    """Direct, bare and rendered, in the order runs interleave them. ``extra_routes`` are allowed on
    top of the default allowlist (the streaming measure needs Ollama's own NDJSON route)."""
    return [
        Variant("direct", "straight to the backend: the floor"),
        Variant("bare", "HAProxy, one frontend and one backend, nothing else", config=bare_config),
        Variant("rendered", "HAProxy with the project's rendered config (default knobs)",
                {"ollama_extra_routes": extra_routes} if extra_routes else {}),
    ]


def knob_variants(workdir: Path, levels: tuple[int, ...], cap: int) -> list[Variant]:
    """The rendered config with each present knob on, alone; measured at the ``levels`` up to the
    backend's ``cap`` (above it the cap's errors would hide them), but for knobs made for that load."""
    found = []
    for name, knob in present_knobs().items():
        more, headers = knob.setup(workdir)
        found.append(Variant(f"rendered + {name}", f"the rendered config with {knob.settings}",
                             {**knob.settings, **more}, headers=headers,
                             concurrency=None if knob.above_cap else tuple(level for level in levels if level <= cap)))
    return found


def present_knobs() -> dict[str, Knob]:
    """Hardening knobs whose settings are defined."""
    known = Settings.model_fields
    return {name: knob for name, knob in HARDENING_KNOBS.items() if set(knob.settings) <= set(known)}


def missing_knobs() -> dict[str, list[str]]:
    """Hardening knobs whose settings are not defined (yet)."""
    known = Settings.model_fields
    return {name: sorted(set(knob.settings) - set(known)) for name, knob in HARDENING_KNOBS.items()
            if not set(knob.settings) <= set(known)}


@contextmanager
def running_variant(variant: Variant, backend_port: int, workdir: Path) -> Iterator[Endpoint]:
    """The variant's HAProxy until the block ends; yields where to send. Straight to the backend
    (neither settings nor a config) starts nothing."""
    workdir = workdir / re.sub(r"[^a-z0-9]+", "-", variant.name.lower())
    if variant.settings is not None:
        settings = Settings.from_data({**variant.settings, "proxy_port": free_port(), "ollama_port": backend_port})
        def ready(proxy) -> bool:
            return answers(proxy.port, host=proxy.host, headers=variant.headers)

        with running_haproxy(settings, workdir, ready) as proxy:
            yield Endpoint(proxy.port, proxy.host, variant.headers, pid=proxy.master_pid)
    elif variant.config is not None:
        with _running_config(variant.config, backend_port, workdir) as (port, pid):
            yield Endpoint(port, f"127.0.0.1:{port}", variant.headers, pid=pid)
    else:
        yield Endpoint(backend_port, f"127.0.0.1:{backend_port}", variant.headers)


@contextmanager
def _running_config(config: Callable[[int, int, Path], str], backend_port: int,
                    workdir: Path) -> Iterator[tuple[int, int]]:
    """``haproxy -W -db`` on a config of our own, checked with ``haproxy -c`` first; yields (port, pid)."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "haproxy.cfg"
    path.write_text(config(port, backend_port, workdir / "home"))
    checked = check(path)
    if checked.returncode != 0:
        raise RuntimeError(f"haproxy -c refused {path}: {checked.stdout}{checked.stderr}")
    process = spawn([HAPROXY, "-W", "-db", "-f", str(path)], workdir / "haproxy.log")
    try:
        wait_until(lambda: answers(port, host=f"127.0.0.1:{port}"), f"HAProxy answers on {port}")
        yield port, process.pid
    finally:
        stop(process)
