"""LiteLLM's proxy, the gateway users would pick instead, for the gateway section: installed once in a
bench-only virtualenv (``build/bench-litellm``, from ``bench/litellm-requirements.txt``) and started on
loopback in front of a backend, offline.

.. code:: python

    litellm = installed_litellm(say)                       # installs on first use (about 40 s, 790 MB)
    with running_litellm(litellm, workdir, backend_port, checks=True) as endpoint:
        ...  # endpoint.request_headers carry the master key; endpoint.pid is the proxy's process
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.endpoint import Endpoint
from bench.proxies import MODEL
from tests.proxy.processes import free_port, spawn, stop, wait_until

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "build" / "bench-litellm"
REQUIREMENTS = Path(__file__).with_name("litellm-requirements.txt")
# It refuses to start with a weak master key, or with none unless told that is meant (the unchecked way).
VERSION = next(line.split("==")[1] for line in REQUIREMENTS.read_text().splitlines() if line.startswith("litellm=="))
MASTER_KEY = f"sk-{secrets.token_hex(32)}"
# Far above the bench's load, as the rendered config's limit is: what is measured is the counting.
RPM_LIMIT = 100_000_000
# No fetch of the model cost map from GitHub at start (nor release checks, tokenizers): nothing leaves loopback.
OFFLINE = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_OFFLINE_MODE": "true"}
START_TIMEOUT_S = 90  # it answers after about 6 s on this machine


def _requirements_digest() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def litellm_installed(venv: Path = VENV) -> bool:
    """Whether the virtualenv holds exactly the pinned requirements."""
    stamp = venv / ".installed"
    return stamp.is_file() and stamp.read_text() == _requirements_digest()


def installed_litellm(say: Callable[[str], None], venv: Path = VENV) -> Path:
    """The ``litellm`` command of the bench's virtualenv, (re)installed when the requirements changed."""
    if not litellm_installed(venv):
        log = venv.with_suffix(".install.log")
        say(f"installing LiteLLM's proxy into {venv} (once; about 40 s and 790 MB; pip's output in {log})")
        venv.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as output:
            for argv in (["python3", "-m", "venv", "--clear", str(venv)],
                         [str(venv / "bin" / "pip"), "install", "--disable-pip-version-check", "-r", str(REQUIREMENTS)]):
                if subprocess.run(argv, stdout=output, stderr=subprocess.STDOUT, timeout=1800, check=False).returncode:
                    raise RuntimeError(f"installing LiteLLM's proxy failed: {' '.join(argv)}; see {log}")
        (venv / ".installed").write_text(_requirements_digest())
    return venv / "bin" / "litellm"


def litellm_config(backend_port: int, checks: bool) -> dict:
    """One model routed to the backend as an OpenAI-compatible server; with ``checks``, the master key and
    a per-model requests-a-minute limit, the only rate limit LiteLLM enforces without a database (a key's
    own ``rpm_limit`` needs virtual keys, so a database)."""
    params = {"model": f"openai/{MODEL}", "api_base": f"http://127.0.0.1:{backend_port}/v1", "api_key": "unused"}
    config = {"model_list": [{"model_name": MODEL, "litellm_params": params}],
              "general_settings": {"dangerously_permit_weak_or_unset_master_key": True}}
    if checks:
        params["rpm"] = RPM_LIMIT
        config["general_settings"] = {"master_key": MASTER_KEY}
        config["router_settings"] = {"enable_pre_call_checks": True,
                                     "optional_pre_call_checks": ["enforce_model_rate_limits"]}
    return config


@contextmanager
def running_litellm(litellm: Path, workdir: Path, backend_port: int, checks: bool) -> Iterator[Endpoint]:
    """``litellm --config`` (one worker, its default) on a free loopback port until the block ends, warmed
    up: its first request and first stream after start are slow (about 120 ms) and the first stream's
    chunks arrive together."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.yaml"
    config.write_text(json.dumps(litellm_config(backend_port, checks), indent=1))  # YAML reads JSON
    port = free_port()
    process = spawn([str(litellm), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
                    workdir / "litellm.log", {**os.environ, **OFFLINE})
    endpoint = Endpoint(port, f"127.0.0.1:{port}", {"Authorization": f"Bearer {MASTER_KEY}"} if checks else {},
                        pid=process.pid)
    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"LiteLLM's proxy exited with {process.returncode}: see {workdir / 'litellm.log'}")
        return endpoint.answers("GET", "/health/liveliness")

    try:
        wait_until(ready, f"LiteLLM answers on 127.0.0.1:{port}", timeout=START_TIMEOUT_S)
        chat = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
        for body in (chat, {**chat, "stream": True}):
            if not endpoint.answers("POST", "/v1/chat/completions", json.dumps(body)):
                raise RuntimeError(f"LiteLLM on {port} does not serve the backend: see {workdir / 'litellm.log'}")
        yield endpoint
    finally:
        stop(process)
