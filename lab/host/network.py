"""The lab's network: a namespace per host, one tailnet-client namespace, veths between.

Host i's ``en0`` (sshd) sits on a /30 of 198.51.100.0/24 shared with the
machine's ``pol-v<i>``. Its ``tailscale0`` is a veth whose peer ``pol-ts<i>``
lives in ``pol-client``; the Tailscale address is put on it by tailscaled at
login, never before. Policy routing in the host makes tailscale0 a strict
entry: only packets for a 100.64.0.0/10 address of the host get in, as
Tailscale's own packet filter does, so the client never reaches sshd.

.. code:: python

    check_subnet_free(plan)
    create_client(plan)
    create_host(plan, plan.hosts[0])
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from host.layout import CLIENT_NETNS, HostPlan, LabPlan

NETNS_DIR = Path("/run/netns")
CLIENT_ETC = Path("/etc/netns") / CLIENT_NETNS


class NetworkError(RuntimeError):
    """The lab cannot take the addresses or names it needs."""


def ip(*args: str, netns: str | None = None) -> str:
    argv = ["ip", *(["-n", netns] if netns else []), *args]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise NetworkError(f"`{' '.join(argv)}` failed: {done.stderr.strip()}")
    return done.stdout


def existing_netns() -> set[str]:
    return {entry["name"] for entry in json.loads(ip("-j", "netns", "list") or "[]")}


def check_subnet_free(plan: LabPlan) -> None:
    """Refuse addresses the machine already reaches directly (not through its default route)."""
    for host in plan.hosts:
        for address in (host.root_ip, host.ssh_ip):
            done = subprocess.run(["ip", "-j", "route", "get", address], capture_output=True, text=True, check=False)
            if done.returncode != 0:
                continue  # unreachable: nobody uses it
            route = json.loads(done.stdout)[0]
            if "gateway" not in route:
                raise NetworkError(
                    f"{address} is already in use on this machine (route: dev {route.get('dev')}, "
                    f"type {route.get('type', 'unicast')}); the lab needs 198.51.100.0/24 free",
                )


def create_client(plan: LabPlan) -> None:
    ip("netns", "add", CLIENT_NETNS)
    ip("link", "set", "lo", "up", netns=CLIENT_NETNS)
    ip("addr", "add", f"{plan.client_ip}/32", "dev", "lo", netns=CLIENT_NETNS)


def create_host(plan: LabPlan, host: HostPlan) -> None:
    ns = host.netns
    ip("netns", "add", ns)
    ip("link", "set", "lo", "up", netns=ns)
    # The SSH link: the machine's pol-v<i> to the host's en0.
    ip("link", "add", host.root_veth, "type", "veth", "peer", "name", "en0", "netns", ns)
    ip("addr", "add", f"{host.root_ip}/30", "dev", host.root_veth)
    ip("link", "set", host.root_veth, "up")
    ip("addr", "add", f"{host.ssh_ip}/30", "dev", "en0", netns=ns)
    ip("link", "set", "en0", "up", netns=ns)
    # The tailnet link: tailscale0 stays down and bare until tailscaled logs in.
    ip("link", "add", "tailscale0", "netns", ns, "type", "veth", "peer", "name", host.client_veth, "netns", CLIENT_NETNS)
    ip("link", "set", host.client_veth, "up", netns=CLIENT_NETNS)
    ip("route", "add", f"{host.tailscale_ip}/32", "dev", host.client_veth, "src", plan.client_ip, netns=CLIENT_NETNS)
    # From tailscale0, only the host's tailnet address is local; all else is refused.
    ip("rule", "add", "pref", "100", "iif", "tailscale0", "to", "100.64.0.0/10", "lookup", "local", netns=ns)
    ip("rule", "add", "pref", "101", "iif", "tailscale0", "prohibit", netns=ns)
    ip("rule", "add", "pref", "200", "lookup", "local", netns=ns)
    ip("rule", "del", "pref", "0", netns=ns)


def link_client_hosts(hosts_file: Path) -> None:
    """`ip netns exec pol-client` bind-mounts this over /etc/hosts: the MagicDNS names."""
    CLIENT_ETC.mkdir(parents=True, exist_ok=True)
    (CLIENT_ETC / "hosts").symlink_to(hosts_file)


def remove_client_hosts(hosts_file: Path) -> None:
    link = CLIENT_ETC / "hosts"
    if link.is_symlink() and Path(os.readlink(link)) == hosts_file:
        link.unlink()
    for directory in (CLIENT_ETC, CLIENT_ETC.parent):
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()


def delete_netns(name: str) -> None:
    if name in existing_netns():
        ip("netns", "del", name)


def pids_in_netns(name: str) -> list[int]:
    """Every process of the machine whose network namespace is `name`."""
    try:
        target = os.stat(NETNS_DIR / name)
    except FileNotFoundError:
        return []
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ns = os.stat(entry / "ns" / "net")
            except OSError:
                continue  # gone, or a kernel thread
            if (ns.st_dev, ns.st_ino) == (target.st_dev, target.st_ino):
                pids.append(int(entry.name))
    return pids
