"""Where a lab keeps its state, and the plan of its hosts: names, namespaces, addresses.

Everything a lab makes lives under one directory: ``.lab/`` at the project root,
or ``$PRIVATE_OLLAMA_LAB_DIR``. ``up`` writes the plan before it makes anything,
so that ``down`` can undo a half-finished ``up``.

Up to ``SLOTS`` labs run at once, each in its own slot: slot 0 has the names of
before slots (``pol-mac-1``, ``pol-client``), slot k ``pol<k>-mac-1``,
``pol<k>-client``, and its own /26 of 198.51.100.0/24 for the SSH links.

.. code:: python

    paths = LabPaths(lab_dir())
    plan = LabPlan.load(paths.plan)
    plan.hosts[0].ssh_ip    # "198.51.100.66" in slot 1: sshd of lab-mac-1, on its en0
    plan.hosts[0].netns     # "pol1-mac-1"
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
DEFAULT_LAB_DIR = PROJECT / ".lab"
SLOTS = 4
MAX_HOSTS = 16
# Slot k owns the /26 at 64k; its host i the /30 at 4*(i-1) in it: the machine's end, then the host's en0.
SSH_SUBNET = ipaddress.IPv4Network("198.51.100.0/24")
SLOT_SUBNETS = list(SSH_SUBNET.subnets(new_prefix=26))
ADMIN_USER = "admin"
ADMIN_UID = 501
STAFF_GID = 20


def lab_dir() -> Path:
    return Path(os.environ.get("PRIVATE_OLLAMA_LAB_DIR") or DEFAULT_LAB_DIR).absolute()


def standins_dir() -> Path:
    """The stand-ins copied into every host (override to try other ones)."""
    return Path(os.environ.get("PRIVATE_OLLAMA_LAB_STANDINS") or PROJECT / "lab" / "standins").absolute()


@dataclass(frozen=True)
class LabPaths:
    root: Path

    @property
    def plan(self) -> Path:
        return self.root / "plan.json"

    @property
    def lab_json(self) -> Path:
        return self.root / "lab.json"

    @property
    def ssh_config(self) -> Path:
        return self.root / "ssh_config"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    @property
    def ssh_key(self) -> Path:
        return self.root / "id_ed25519"

    @property
    def authkey(self) -> Path:
        return self.root / "authkey"

    @property
    def control(self) -> Path:
        """The lab tailnet's coordination state, shared by every host's tailscaled."""
        return self.root / "control"

    @property
    def registry_tls(self) -> Path:
        """The lab's CA and the registry stand-in's certificate (lab/host/tls.py)."""
        return self.root / "registry-tls"

    @property
    def client_hosts(self) -> Path:
        """The tailnet client's /etc/hosts (MagicDNS names); its link in /etc/netns claims the lab's slot."""
        return self.control / "hosts"

    def host(self, index: int) -> Path:
        return self.root / "hosts" / str(index)

    def host_fs(self, index: int) -> Path:
        """A tmpfs holding the overlay's upper and work dirs: the host's own files."""
        return self.host(index) / "fs"

    def host_volumes(self, index: int) -> Path:
        """The host's /Volumes, shared into it: each external volume attached is a mount here."""
        return self.host(index) / "volumes"

    def host_upper(self, index: int) -> Path:
        return self.host_fs(index) / "upper"

    def host_root(self, index: int) -> Path:
        """Where the host's merged root is mounted, inside its own mount namespace only."""
        return self.host(index) / "root"

    def host_pid(self, index: int) -> Path:
        return self.host(index) / "pid"

    def host_log(self, index: int) -> Path:
        return self.host(index) / "boot.log"

    def host_key(self, index: int) -> Path:
        return self.host(index) / "ssh_host_ed25519_key"


def slot_name(slot: int, base: str) -> str:
    """`pol-<base>` in slot 0, `pol<k>-<base>` in slot k: at most 9 characters for an interface (limit 15).

    >>> slot_name(0, "mac-1"), slot_name(3, "ts16")
    ('pol-mac-1', 'pol3-ts16')
    """
    return f"pol-{base}" if slot == 0 else f"pol{slot}-{base}"


def client_netns(slot: int) -> str:
    return slot_name(slot, "client")


def slot_netns(slot: int) -> list[str]:
    """Every namespace slot `slot` may hold, hosts first: the slot is free when none exists."""
    return [*(slot_name(slot, f"mac-{index}") for index in range(1, MAX_HOSTS + 1)), client_netns(slot)]


@dataclass(frozen=True)
class HostPlan:
    index: int
    tailscale_ip: str
    tailscale_ipv6: str
    tailscale_hostname: str  # the node name the deploy should ask for
    slot: int  # the lab's, said once in plan.json (LabPlan.save)

    @property
    def name(self) -> str:
        return f"lab-mac-{self.index}"

    @property
    def netns(self) -> str:
        return slot_name(self.slot, f"mac-{self.index}")

    @property
    def root_ip(self) -> str:
        return str(SLOT_SUBNETS[self.slot][4 * self.index - 3])

    @property
    def ssh_ip(self) -> str:
        return str(SLOT_SUBNETS[self.slot][4 * self.index - 2])

    @property
    def root_veth(self) -> str:
        return slot_name(self.slot, f"v{self.index}")

    @property
    def client_veth(self) -> str:
        return slot_name(self.slot, f"ts{self.index}")


@dataclass(frozen=True)
class LabPlan:
    slot: int
    hosts: list[HostPlan]
    client_ip: str
    magicdns_suffix: str
    auth_tags: list[str]

    @property
    def client_netns(self) -> str:
        return client_netns(self.slot)

    @property
    def ssh_subnet(self) -> ipaddress.IPv4Network:
        return SLOT_SUBNETS[self.slot]

    def magicdns_name(self, host: HostPlan) -> str:
        return f"{host.tailscale_hostname}.{self.magicdns_suffix}"

    def save(self, path: Path) -> None:
        data = asdict(self)
        for host in data["hosts"]:
            del host["slot"]
        staged = path.with_name(f"{path.name}.new")
        staged.write_text(json.dumps(data, indent=2) + "\n")
        staged.replace(path)  # `down` never reads half a plan

    @classmethod
    def load(cls, path: Path) -> LabPlan:
        data = json.loads(path.read_text())
        data.setdefault("slot", 0)  # plans written before slots existed were all in slot 0
        data["hosts"] = [HostPlan(**host, slot=data["slot"]) for host in data["hosts"]]
        return cls(**data)
