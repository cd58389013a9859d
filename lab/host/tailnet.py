"""The lab's tailnet, decided at `up`: addresses, MagicDNS suffix, the auth key.

The control directory plays Tailscale's coordination server for every host's
tailscaled stand-in (bind-mounted at /var/lib/lab/control in each host):

- ``tailnet.json``: the tailnet's name, MagicDNS suffix and each host's addresses;
- ``keys.json``: the auth keys the lab issued, as SHA-256 hashes only (the key
  itself is only in the lab's ``authkey`` file, mode 600);
- ``nodes.json``: the nodes logged in, written by the tailscaled stand-ins;
- ``hosts``: the tailnet client's /etc/hosts (MagicDNS), kept by the stand-ins.

.. code:: python

    client_ip, host_ips = pick_addresses(2, slot=1, rng=random.SystemRandom())
    write_control(paths.control, plan, key)
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import random
import string
from pathlib import Path

from lab.host.layout import LabPlan

TAILNET = ipaddress.IPv4Network("100.64.0.0/10")
# A /12 per slot (as many as SLOTS): labs running at once never share an address. Each lab's
# client only routes to its own hosts anyway, but a log or a test could mix two labs up.
SLOT_TAILNETS = list(TAILNET.subnets(new_prefix=12))
QUAD100 = ipaddress.IPv4Address("100.100.100.100")  # Tailscale's own DNS address
ULA_PREFIX = "fd7a:115c:a1e0::"  # Tailscale's IPv6 range
TAILNET_NAME = "private-ollama-lab"
HOSTNAME = "remote-ollama"
CLIENT_HOSTS_HEADER = "127.0.0.1\tlocalhost\n::1\tlocalhost\n# MagicDNS: kept by the tailscaled stand-ins\n"
_ALNUM = string.ascii_letters + string.digits


def pick_addresses(count: int, slot: int, rng: random.Random) -> tuple[str, list[str]]:
    """A distinct random address of the slot's part of 100.64.0.0/10 for the client and for each host."""
    network = SLOT_TAILNETS[slot]
    chosen: list[str] = []
    while len(chosen) < count + 1:
        address = network[rng.randrange(1, network.num_addresses - 1)]
        if address != QUAD100 and address.packed[-1] not in (0, 255) and str(address) not in chosen:
            chosen.append(str(address))
    return chosen[0], chosen[1:]


def ipv6_for(ipv4: str) -> str:
    """The node's IPv6 address, derived from its IPv4 one as stable as the IPv4."""
    packed = ipaddress.IPv4Address(ipv4).packed
    return str(ipaddress.IPv6Address(ULA_PREFIX + f"{packed[0]:02x}{packed[1]:02x}:{packed[2]:02x}{packed[3]:02x}"))


def node_hostname(index: int) -> str:
    """The node name each host should log in with: unique, so MagicDNS names are too."""
    return HOSTNAME if index == 1 else f"{HOSTNAME}-{index}"


def new_magicdns_suffix(rng: random.Random) -> str:
    return f"tail{rng.randrange(16**6):06x}.ts.net"


def new_auth_key(rng: random.Random) -> tuple[str, str]:
    """(key id, key) shaped like Tailscale's: tskey-auth-k…CNTRL-…"""
    key_id = "k" + "".join(rng.choice(_ALNUM) for _ in range(10)) + "CNTRL"
    secret = "".join(rng.choice(_ALNUM) for _ in range(33))
    return key_id, f"tskey-auth-{key_id}-{secret}"


def write_control(control: Path, plan: LabPlan, key_id: str, key: str) -> None:
    control.mkdir(mode=0o700)
    tailnet = {
        "name": TAILNET_NAME,
        "magicdns_suffix": plan.magicdns_suffix,
        "addresses": {str(h.index): {"ipv4": h.tailscale_ip, "ipv6": h.tailscale_ipv6} for h in plan.hosts},
    }
    keys = [{"id": key_id, "sha256": hashlib.sha256(key.encode()).hexdigest(), "tags": plan.auth_tags, "reusable": True}]
    _write(control / "tailnet.json", json.dumps(tailnet, indent=2) + "\n", 0o600)
    _write(control / "keys.json", json.dumps({"keys": keys}, indent=2) + "\n", 0o600)
    _write(control / "nodes.json", "{}\n", 0o600)
    _write(control / "hosts", CLIENT_HOSTS_HEADER, 0o644)


def write_auth_key(path: Path, key: str) -> None:
    _write(path, key + "\n", 0o600)


def _write(path: Path, text: str, mode: int) -> None:
    path.touch(mode=mode)
    path.chmod(mode)
    path.write_text(text)
