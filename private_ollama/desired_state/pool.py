"""Several Macs as one service: who holds which model, and where each member's proxy sends a request for it.

Macs whose data name the same ``proxy_pool`` are its members. Each member's
routing table is rendered from data: the models each member declares
(``ollama_models``) and, for this Mac, the ones its Ollama holds besides; the
members' Tailscale addresses as this Mac's tailnet sees them. A model held by
several members goes to the least busy of them (this Mac's own Ollama counts as
one). The listings name the models and nothing a pull changes (size, date,
digest), so that one apply renders what the next one would.

.. code:: python

    pool = Pool("studio", (Member("mac-a", "100.64.0.1", 11434, frozenset({"llama3.2:latest"}), local=True),
                           Member("mac-b", "100.64.0.2", 11434, frozenset({"llama3.2:latest", "qwen2.5-coder:32b"}))))
    pool.routes()     # {"llama3.2:latest": "holders_mac-a_mac-b", "qwen2.5-coder:32b": "holders_mac-b"}
    pool.backends()   # {"holders_mac-a_mac-b": (mac-a, mac-b), "holders_mac-b": (mac-b,)}
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Member:
    name: str  # the inventory host
    address: str | None  # its Tailscale IPv4 as this Mac sees it; None while it is not on the tailnet
    port: int  # its proxy's port
    models: frozenset[str] = frozenset()  # ModelName.key of each model it holds
    local: bool = False  # this Mac
    dns_name: str | None = None  # its MagicDNS name, for clients

    @property
    def server(self) -> str:
        """The HAProxy server name: the inventory name in the characters a server name may hold."""
        return re.sub(r"[^A-Za-z0-9_.-]", "_", self.name)


@dataclass(frozen=True)
class Pool:
    name: str
    members: tuple[Member, ...]

    @property
    def peers(self) -> tuple[Member, ...]:
        """The other members this Mac can reach."""
        return tuple(member for member in self.members if not member.local and member.address)

    @property
    def reachable(self) -> tuple[Member, ...]:
        return tuple(member for member in self.members if member.local or member.address)

    def holders(self, model: str) -> tuple[Member, ...]:
        return tuple(member for member in self.reachable if model in member.models)

    def models(self) -> list[str]:
        """Every model some reachable member holds, each once, sorted."""
        return sorted({model for member in self.reachable for model in member.models})

    def routes(self) -> dict[str, str]:
        """Model key -> the backend of its holders."""
        return {model: backend_name(self.holders(model)) for model in self.models()}

    def backends(self) -> dict[str, tuple[Member, ...]]:
        """One backend per distinct set of holders, with those members."""
        return {backend_name(self.holders(model)): self.holders(model) for model in self.models()}

    def routes_map(self) -> str:
        """The map HAProxy routes by: ``<model key> <backend>`` lines."""
        return "".join(f"{model} {backend}\n" for model, backend in self.routes().items())

    def tags(self) -> str:
        """``GET /api/tags`` of the whole pool: each model once, by name (Ollama's other fields are optional)."""
        models = [{"name": model, "model": model} for model in self.models()]
        return json.dumps({"models": models}, separators=(",", ":"))

    def openai_models(self) -> str:
        """``GET /v1/models`` of the whole pool, in the shape Ollama's OpenAI layer answers (``created`` 0:
        unknown, as Ollama gives a model without a date)."""
        data = [{"id": model, "object": "model", "created": 0, "owned_by": "library"} for model in self.models()]
        return json.dumps({"object": "list", "data": data}, separators=(",", ":"))


def backend_name(holders: tuple[Member, ...]) -> str:
    return "holders_" + "_".join(member.server for member in holders)

