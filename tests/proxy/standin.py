"""The Ollama stand-in as the tests run it: on 127.0.0.1, recording to a file of their own.

Its answers with a token limit run to that limit (``OLLAMA_STANDIN_RUN_TO_LIMIT``),
so a test streams for as long as it asks (``max_tokens`` N: N tokens, one every
CHUNK_INTERVAL_MS); ``running_standin(path, OLLAMA_STANDIN_RUN_TO_LIMIT="")`` is
a model that stops by itself after its natural answer, as Ollama's do.

Its store (``<workdir>/.ollama/models``) holds the stand-in's MODELS from the
start (llama3.2:latest and qwen2.5-coder:32b, as pulled from the catalogue at
their ``modified_at``); ``seeded=()`` starts it empty. Its registry is a closed
port unless a test gives one: ``running_registry`` is the registry stand-in on
loopback with a CA of its own, and its ``env()`` points a stand-in at it.

.. code:: python

    with running_standin(tmp_path) as ollama:
        ...  # talk to 127.0.0.1:{ollama.port}
        assert ollama.record.has(marker)
    with running_registry(tmp_path / "registry") as registry, \
            running_standin(tmp_path / "ollama", seeded=(), **registry.env()) as ollama:
        ...  # POST /api/pull on 127.0.0.1:{ollama.port}
"""

from __future__ import annotations

import http.client
import importlib
import json
import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from lab.host.tls import make_certificates
from lab.standins import ollama_catalogue as catalogue
from lab.standins.ollama import MODELS
from lab.standins.ollama_store import Name, Store
from tests.proxy.processes import free_port, spawn, stop, wait_until

STANDINS = Path(__file__).resolve().parents[2] / "lab" / "standins"
OLLAMA = STANDINS / "ollama"
REGISTRY = STANDINS / "ollama_registry.py"
PYTHON = "/usr/bin/python3"  # stand-ins run on Debian's Python, never the venv
CHUNK_INTERVAL_MS = 25
NO_REGISTRY = "127.0.0.1:1"  # nothing listens there: a pull fails at once, and never leaves the machine
WHOLE_BELOW = 1 << 20  # blobs seeded with their bytes; larger ones sparse, at their size


def load_standin_module():
    """lab/standins/ollama.py as a module: its route table and fake models are the tests' data."""
    return importlib.import_module("lab.standins.ollama")


@dataclass(frozen=True)
class Record:
    """The stand-in's log of every request it received, one JSON object per line."""

    path: Path

    def requests(self) -> list[dict]:
        return [json.loads(line) for line in self.path.read_text().splitlines()] if self.path.exists() else []

    def with_marker(self, marker: str) -> list[dict]:
        """Requests whose headers or target carry ``marker``."""
        return [seen for seen in self.requests() if marker in json.dumps([seen["target"], seen["headers"]])]

    def has(self, marker: str) -> bool:
        return bool(self.with_marker(marker))


@dataclass
class Standin:
    port: int
    record: Record
    process: subprocess.Popen
    home: Path

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a CLI call that talks to this server."""
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home),
                "OLLAMA_HOST": f"127.0.0.1:{self.port}", **extra}


def answers(port: int, path: str = "/api/version", host: str = "127.0.0.1", headers: dict | None = None) -> bool:
    """Whether 127.0.0.1:port answers ``GET path`` with 200."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", path, headers={"Host": host, **(headers or {})})
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def seed(models_dir: Path, names: tuple[str, ...]) -> None:
    """A store holding the catalogue models ``names``, pulled at their MODELS time (now when it has none)."""
    store = Store(str(models_dir))
    times = {model["name"]: model["modified_at"] for model in MODELS}
    for name in names:
        model = catalogue.named(name)
        for layer in (*model.layers, model.config):
            with open(store.blob_path(layer.digest), "wb") as blob:
                blob.write(catalogue.blob_bytes(model, layer, 0, layer.size if layer.size < WHOLE_BELOW else 0))
                blob.truncate(layer.size)
        store.write_manifest(Name.parse(name), model.manifest())
        if name in times:
            when = int(datetime.fromisoformat(times[name][:26] + times[name][29:]).timestamp()) * 10**9
            os.utime(store.manifest_path(Name.parse(name)), ns=(when, when))


@contextmanager
def running_standin(workdir: Path, seeded: tuple[str, ...] = tuple(model["name"] for model in MODELS),
                    **env: str) -> Iterator[Standin]:
    """`ollama serve` on a free loopback port, its record and HOME in ``workdir``, its store holding ``seeded``
    (unless ``env`` names another OLLAMA_MODELS); stopped on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    seed(workdir / ".ollama" / "models", seeded)
    port = free_port()
    record = Record(workdir / "requests.jsonl")
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "OLLAMA_HOST": f"127.0.0.1:{port}",
                   "OLLAMA_STANDIN_RECORD": str(record.path), "OLLAMA_STANDIN_REGISTRY": NO_REGISTRY,
                   "OLLAMA_STANDIN_CHUNK_INTERVAL_MS": str(CHUNK_INTERVAL_MS), "OLLAMA_STANDIN_RUN_TO_LIMIT": "1", **env}
    process = spawn([PYTHON, str(OLLAMA), "serve"], workdir / "ollama.log", environment)
    try:
        wait_until(lambda: answers(port), f"the Ollama stand-in answers on 127.0.0.1:{port}")
        yield Standin(port, record, process, workdir)
    finally:
        stop(process)


@dataclass
class Registry:
    """The registry stand-in on loopback: its port, the CA that signed its certificate, its request log."""

    port: int
    ca: Path
    log: Path

    def env(self) -> dict[str, str]:
        """What points a stand-in at it: where registry.ollama.ai is, and the CA to trust."""
        return {"OLLAMA_STANDIN_REGISTRY": f"127.0.0.1:{self.port}", "SSL_CERT_FILE": str(self.ca)}

    def requests(self) -> list[str]:
        """``METHOD path`` of each request it answered, in order."""
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [" ".join(fields[2:4]) for fields in map(str.split, lines) if fields[2:3] in (["GET"], ["HEAD"])]


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def running_registry(workdir: Path) -> Iterator[Registry]:
    """The registry stand-in on a free loopback port, with a fresh CA in ``workdir``; stopped on exit."""
    made = make_certificates(workdir / "tls", ["registry.ollama.ai"])
    port = free_port()
    registry = Registry(port, made.ca, workdir / "registry.log")
    process = spawn([PYTHON, str(REGISTRY), "--listen", f"127.0.0.1:{port}", "--cert", str(made.cert),
                     "--key", str(made.key)], registry.log, {"PATH": "/usr/bin:/bin"})
    try:
        wait_until(lambda: listening(port), f"the registry stand-in listens on 127.0.0.1:{port}")
        yield registry
    finally:
        stop(process)
