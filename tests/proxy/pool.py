"""A pool of Macs on loopback: each member's real HAProxy (its rendered pool config) on its own 127.0.0.x
address, in front of its own Ollama stand-in, so a test can tell which member's Ollama served a request.

.. code:: python

    with running_pool(tmp_path, {"mac-a": ["llama3.2"], "mac-b": ["qwen2.5-coder:32b"]}) as pool:
        pool.ask("mac-a", "POST", "/api/show", b'{"model":"qwen2.5-coder:32b"}')
        pool.served_by(marker)        # ["mac-b"]

    # Each member in front of a backend of the caller's (no stand-ins): the bench's pool.
    with running_pool(tmp_path, {"asked": [], "holder": ["llama3.2"]}, backends={"asked": port, "holder": port}):
        ...
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from private_ollama.desired_state.models import ModelName
from private_ollama.desired_state.pool import Member, Pool
from private_ollama.desired_state.settings import POOL_BUFFER_BYTES, Settings
from tests.proxy.haproxy import Proxy, listening, running_haproxy
from tests.proxy.processes import free_port
from tests.proxy.standin import Standin, running_standin
from tests.proxy.wire import Response, exchange, new_marker, request

POOL = "studio"


@dataclass
class PoolLab:
    workdir: Path
    declared: dict[str, list[str]]  # member -> the models it declares
    knobs: dict[str, Any]
    addresses: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    ollama_ports: dict[str, int] = field(default_factory=dict)
    standins: dict[str, Standin] = field(default_factory=dict)
    proxies: dict[str, Proxy] = field(default_factory=dict)
    stacks: dict[str, ExitStack] = field(default_factory=dict)

    def settings(self, name: str) -> Settings:
        return Settings.from_data({
            "proxy_port": self.ports[name], "ollama_port": self.ollama_ports[name], "proxy_pool": POOL,
            "proxy_buffer_bytes": POOL_BUFFER_BYTES, "ollama_models": self.declared[name], **self.knobs})

    def pool(self, name: str) -> Pool:
        """The pool as member ``name``'s deploy renders it."""
        return Pool(POOL, tuple(
            Member(member, self.addresses[member], self.ports[member],
                   frozenset(ModelName.parse(model).key for model in models), local=member == name)
            for member, models in self.declared.items()))

    def start(self, name: str) -> None:
        stack = self.stacks[name] = ExitStack()
        self.proxies[name] = stack.enter_context(running_haproxy(
            self.settings(name), self.workdir / name / "haproxy", ready=listening, address=self.addresses[name],
            pool=self.pool(name)))

    def stop(self, name: str) -> None:
        self.stacks.pop(name).close()

    def ask(self, name: str, method: str, target: str, body: bytes = b"", marker: str | None = None,
            headers: tuple[str, ...] = (), source: str | None = None) -> Response:
        proxy = self.proxies[name]
        raw = request(method, target, proxy.host, marker or new_marker(), body, headers)
        [response, *_] = exchange(proxy.port, raw, expect=1, address=proxy.address, source=source, quiet=10)
        return response

    def served_by(self, marker: str) -> list[str]:
        """The members whose Ollama received the request marked ``marker``."""
        return [name for name, standin in self.standins.items() if standin.record.has(marker)]


@contextmanager
def running_pool(workdir: Path, declared: dict[str, list[str]], backends: dict[str, int] | None = None,
                 **knobs: Any) -> Iterator[PoolLab]:
    """Every member up: its HAProxy on 127.0.0.(11+i) in front of its Ollama, the port in ``backends``
    or else a stand-in of its own on a free port."""
    lab = PoolLab(workdir, declared, knobs)
    with ExitStack() as standins:
        for index, name in enumerate(declared):
            lab.addresses[name], lab.ports[name] = f"127.0.0.{11 + index}", free_port()
            if backends is None:
                lab.standins[name] = standins.enter_context(running_standin(workdir / name / "ollama"))
            lab.ollama_ports[name] = backends[name] if backends else lab.standins[name].port
        try:
            for name in declared:
                lab.start(name)
            yield lab
        finally:
            for name in list(lab.stacks):
                lab.stop(name)
