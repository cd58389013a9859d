"""The pool this Mac serves in, as its deploy sees it: the members from the inventory's data, their
addresses from this Mac's own view of the tailnet, their models from their declarations (and this Mac's
from its Ollama)."""

from __future__ import annotations

from pyinfra import host

from facts.once import read
from facts.tailscale import TailscaleStatus
from private_ollama.desired_state.pool import Member, Pool
from private_ollama.desired_state.settings import Settings


def current_pool(mac) -> Pool | None:
    """The pool of ``mac`` (a ``facts.target.Target``), or None when it is in none or not on the tailnet yet.

    Every member is in the same inventory: its host data names the same ``proxy_pool``. A member is
    reached at the address this Mac's ``tailscale status`` gives its MagicDNS name; one the tailnet does
    not show yet is left out until an apply sees it.
    """
    settings = mac.settings
    if not settings.proxy_pool:
        return None
    tailnet = read(TailscaleStatus, cli=mac.tailscale_cli)
    if not tailnet["ipv4"]:
        return None
    members = []
    for other in host.state.inventory:
        theirs = Settings.from_data(other.data.dict(), host=other.name)
        if theirs.proxy_pool != settings.proxy_pool:
            continue
        declared = frozenset(model.key for model in theirs.declared_models)
        dns_name = f"{theirs.tailscale_hostname}.{tailnet['magicdns_suffix']}"
        if other.name == host.name:
            # This apply's own models: with prune on, the declared ones (it removes the others, after HAProxy).
            held = declared if settings.ollama_models_prune else declared | set(mac.models()["models"])
            members.append(Member(other.name, tailnet["ipv4"], theirs.proxy_port, held, local=True,
                                  dns_name=tailnet["dns_name"]))
        else:
            members.append(Member(other.name, tailnet["peers"].get(dns_name), theirs.proxy_port, declared,
                                  dns_name=dns_name))
    return Pool(settings.proxy_pool, tuple(members))
