"""Several Macs as one service: who holds which model, and where each member's proxy sends a request for it.

Macs whose data name the same ``proxy_pool`` are its members. Each member's
routing table is rendered from data: the models each member declares
(``ollama_models``) and, where the deploy could read it, holds; the members'
Tailscale addresses as this Mac's tailnet sees them. A model held by several
members goes to the least busy of them (this Mac's own Ollama counts as one).

.. code:: python

    pool = Pool("studio", [Member("mac-a", "100.64.0.1", 11434, {"llama3.2:latest"}, local=True),
                           Member("mac-b", "100.64.0.2", 11434, {"llama3.2:latest", "qwen2.5-coder:32b:..."})])
    pool.routes()     # {"llama3.2:latest": "holders_mac_a_mac_b", "qwen2.5-coder:32b": "holders_mac_b"}
    pool.backends()   # {"holders_mac_a_mac_b": [mac-a, mac-b], "holders_mac_b": [mac-b]}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Member:
    name: str  # the inventory host
    address: str | None  # its Tailscale IPv4 as this Mac sees it; None while it is not on the tailnet
    port: int  # its proxy's port
    models: frozenset[str] = field(default_factory=frozenset)  # ModelName.key of each model it holds
    local: bool = False  # this Mac

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


def backend_name(holders: tuple[Member, ...]) -> str:
    return "holders_" + "_".join(member.server for member in holders)
