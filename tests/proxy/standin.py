"""The Ollama stand-in as the tests run it: on 127.0.0.1, recording to a file of their own.

Its answers with a token limit run to that limit (``OLLAMA_STANDIN_RUN_TO_LIMIT``),
so a test streams for as long as it asks (``max_tokens`` N: N tokens, one every
CHUNK_INTERVAL_MS); ``running_standin(path, OLLAMA_STANDIN_RUN_TO_LIMIT="")`` is
a model that stops by itself after its natural answer, as Ollama's do.

.. code:: python

    with running_standin(tmp_path) as ollama:
        ...  # talk to 127.0.0.1:{ollama.port}
        assert ollama.record.has(marker)
"""

from __future__ import annotations

import http.client
import importlib
import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.proxy.processes import free_port, spawn, stop, wait_until

STANDINS = Path(__file__).resolve().parents[2] / "lab" / "standins"
OLLAMA = STANDINS / "ollama"
PYTHON = "/usr/bin/python3"  # stand-ins run on Debian's Python, never the venv
CHUNK_INTERVAL_MS = 25


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


@contextmanager
def running_standin(workdir: Path, **env: str) -> Iterator[Standin]:
    """`ollama serve` on a free loopback port, its record and HOME in ``workdir``; stopped on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    record = Record(workdir / "requests.jsonl")
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "OLLAMA_HOST": f"127.0.0.1:{port}",
                   "OLLAMA_STANDIN_RECORD": str(record.path),
                   "OLLAMA_STANDIN_CHUNK_INTERVAL_MS": str(CHUNK_INTERVAL_MS), "OLLAMA_STANDIN_RUN_TO_LIMIT": "1", **env}
    process = spawn([PYTHON, str(OLLAMA), "serve"], workdir / "ollama.log", environment)
    try:
        wait_until(lambda: answers(port), f"the Ollama stand-in answers on 127.0.0.1:{port}")
        yield Standin(port, record, process, workdir)
    finally:
        stop(process)
