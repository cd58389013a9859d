"""Where a lab keeps its state, and the plan of its hosts: names, namespaces, addresses.

Everything a lab makes lives under one directory: ``.lab/`` at the project root,
or ``$PRIVATE_OLLAMA_LAB_DIR``. ``up`` writes the plan before it makes anything,
so that ``down`` can undo a half-finished ``up``.

.. code:: python

    paths = LabPaths(lab_dir())
    plan = LabPlan.load(paths.plan)
    plan.hosts[0].ssh_ip    # "198.51.100.2": sshd of lab-mac-1, on its en0
    plan.hosts[0].netns     # "pol-mac-1"
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
CLIENT_NETNS = "pol-client"
MAX_HOSTS = 16
# Host i owns the /30 at 4*(i-1): the machine's end is .4i-3, the host's en0 is .4i-2.
SSH_SUBNET = ipaddress.IPv4Network("198.51.100.0/24")
ADMIN_USER = "admin"
ADMIN_UID = 501
STAFF_GID = 20


def lab_dir() -> Path:
    return Path(os.environ.get("PRIVATE_OLLAMA_LAB_DIR") or PROJECT / ".lab").absolute()


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

    def host(self, index: int) -> Path:
        return self.root / "hosts" / str(index)

    def host_fs(self, index: int) -> Path:
        """A tmpfs holding the overlay's upper and work dirs: the host's own files."""
        return self.host(index) / "fs"

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


@dataclass(frozen=True)
class HostPlan:
    index: int
    tailscale_ip: str
    tailscale_ipv6: str
    tailscale_hostname: str  # the node name the deploy should ask for

    @property
    def name(self) -> str:
        return f"lab-mac-{self.index}"

    @property
    def netns(self) -> str:
        return f"pol-mac-{self.index}"

    @property
    def root_ip(self) -> str:
        return str(SSH_SUBNET[4 * self.index - 3])

    @property
    def ssh_ip(self) -> str:
        return str(SSH_SUBNET[4 * self.index - 2])

    @property
    def root_veth(self) -> str:
        return f"pol-v{self.index}"

    @property
    def client_veth(self) -> str:
        return f"pol-ts{self.index}"


@dataclass(frozen=True)
class LabPlan:
    hosts: list[HostPlan]
    client_ip: str
    magicdns_suffix: str
    auth_tags: list[str]

    def magicdns_name(self, host: HostPlan) -> str:
        return f"{host.tailscale_hostname}.{self.magicdns_suffix}"

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> LabPlan:
        data = json.loads(path.read_text())
        data["hosts"] = [HostPlan(**host) for host in data["hosts"]]
        return cls(**data)
