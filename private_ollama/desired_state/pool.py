"""Several Macs as one service: who holds which model, and where each member's proxy sends a request for it.

Macs whose data name the same ``proxy_pool`` are its members. Each member's
routing table is rendered from data: the models each member declares
(``ollama_models``) and, where the deploy could read it, holds; the members'
Tailscale addresses as this Mac's tailnet sees them. A model held by several
members goes to the least busy of them (this Mac's own Ollama counts as one).

.. code:: python

    pool = Pool("studio", (Member("mac-a", "100.64.0.1", 11434, {"llama3.2:latest": None}, local=True),
                           Member("mac-b", "100.64.0.2", 11434, {"llama3.2:latest": None, "qwen2.5-coder:32b": None})))
    pool.routes()     # {"llama3.2:latest": "holders_mac-a_mac-b", "qwen2.5-coder:32b": "holders_mac-b"}
    pool.backends()   # {"holders_mac-a_mac-b": (mac-a, mac-b), "holders_mac-b": (mac-b,)}
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Member:
    name: str  # the inventory host
    address: str | None  # its Tailscale IPv4 as this Mac sees it; None while it is not on the tailnet
    port: int  # its proxy's port
    # ModelName.key of each model it holds -> its /api/tags entry where known (this Mac's facts), else None
    models: Mapping[str, dict[str, Any] | None] = field(default_factory=dict)
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
        """``GET /api/tags`` of the whole pool: each model once, as a member that holds it lists it."""
        return json.dumps({"models": [self._entry(model) for model in self.models()]}, separators=(",", ":"))

    def openai_models(self) -> str:
        """``GET /v1/models`` of the whole pool, in the shape Ollama's OpenAI layer answers."""
        data = [{"id": entry["name"], "object": "model", "created": _created(entry), "owned_by": "library"}
                for entry in map(self._entry, self.models())]
        return json.dumps({"object": "list", "data": data}, separators=(",", ":"))

    def _entry(self, model: str) -> dict[str, Any]:
        known = next((member.models[model] for member in self.holders(model) if member.models[model]), None)
        return known or {"name": model, "model": model}


def backend_name(holders: tuple[Member, ...]) -> str:
    return "holders_" + "_".join(member.server for member in holders)


def _created(entry: dict[str, Any]) -> int:
    """A listing's ``modified_at`` as Unix time (0 when unknown), as Ollama fills ``created``."""
    try:
        return int(datetime.fromisoformat(entry["modified_at"][:26].rstrip("Z")).timestamp())
    except (KeyError, ValueError):
        return 0
