"""The lab's network: a namespace per host, one tailnet-client namespace, veths between.

Host i's ``en0`` (sshd) sits on a /30 of its slot's 198.51.100.0/26 shared
with the machine's ``pol-v<i>`` (``pol<k>-v<i>`` in slot k). Its
``tailscale0`` is a veth whose peer ``pol-ts<i>`` lives in ``pol-client``; the
Tailscale address is put on it by tailscaled at login, never before. Policy
routing in the host makes tailscale0 a strict entry: only packets for a
100.64.0.0/10 address of the host get in, as Tailscale's own packet filter
does, so the client never reaches sshd. ``pol-client`` forwards between the
hosts' tailscale0 links, so hosts reach each other's Tailscale addresses (and,
by the same rules, nothing else of each other).

A lab owns its slot through ``/etc/netns/<client netns>/hosts``: the link to
its MagicDNS file that ``ip netns exec`` mounts over /etc/hosts. `down` removes
only the namespaces of the slot whose link is its own.

.. code:: python

    with slots_locked():
        slot = free_slots()[0]
        ...  # plan the lab in `slot`, save the plan
        check_subnet_free(plan)
        claim_slot(plan.slot, paths.client_hosts)
        create_client(plan)
    create_host(plan, plan.hosts[0])
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lab.host.layout import SLOTS, HostPlan, LabPlan, client_netns, slot_netns

NETNS_DIR = Path("/run/netns")
NETNS_ETC = Path("/etc/netns")
LOCK = Path("/run/lock/private-ollama-lab.lock")


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


@contextmanager
def slots_locked() -> Iterator[None]:
    """One labctl at a time picks, claims or frees a slot (two `up`s must not pick the same)."""
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


def slot_namespaces(slot: int) -> list[str]:
    """The namespaces of `slot` that exist now, hosts first."""
    existing = existing_netns()
    return [name for name in slot_netns(slot) if name in existing]


def free_slots() -> list[int]:
    """Slots none of whose namespaces exist."""
    return [slot for slot in range(SLOTS) if not slot_namespaces(slot)]


def slot_claim(slot: int) -> Path | None:
    """The MagicDNS file of the lab that claimed `slot` last (a lab's is <state dir>/control/hosts)."""
    link = NETNS_ETC / client_netns(slot) / "hosts"
    return Path(os.readlink(link)) if link.is_symlink() else None


def owned_slot(hosts_file: Path) -> int | None:
    """The slot the lab whose MagicDNS file is `hosts_file` holds, if any."""
    return next((slot for slot in range(SLOTS) if slot_claim(slot) == hosts_file), None)


def claim_slot(slot: int, hosts_file: Path) -> None:
    """Make `slot` the lab's: `ip netns exec <client netns>` bind-mounts hosts_file over /etc/hosts.

    Call with the slots locked, on a free slot: a link left there belongs to a lab whose
    namespaces are gone (a reboot empties /run/netns, not /etc/netns), and is replaced.
    """
    etc = NETNS_ETC / client_netns(slot)
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "hosts").unlink(missing_ok=True)
    (etc / "hosts").symlink_to(hosts_file)


def release_slot(slot: int, hosts_file: Path) -> None:
    etc = NETNS_ETC / client_netns(slot)
    if slot_claim(slot) == hosts_file:
        (etc / "hosts").unlink()
    for directory in (etc, NETNS_ETC):
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()


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
                    f"type {route.get('type', 'unicast')}); slot {plan.slot} of the lab needs {plan.ssh_subnet} free",
                )


def create_client(plan: LabPlan) -> None:
    ip("netns", "add", plan.client_netns)
    ip("link", "set", "lo", "up", netns=plan.client_netns)
    ip("addr", "add", f"{plan.client_ip}/32", "dev", "lo", netns=plan.client_netns)
    # The tailnet between hosts: host A's packets for host B's Tailscale address go out its tailscale0 to
    # here (which answers ARP for B: proxy ARP), and on to B's, as Tailscale's mesh carries them (a pool's members
    # reach each other's proxy).
    # nsenter, not `ip netns exec`: that would bind-mount the slot's hosts file, not written yet.
    subprocess.run(["nsenter", f"--net={NETNS_DIR / plan.client_netns}", "sysctl", "-qw", "net.ipv4.ip_forward=1",
                    "net.ipv4.conf.all.proxy_arp=1", "net.ipv6.conf.all.forwarding=1"], check=True)


def create_host(plan: LabPlan, host: HostPlan) -> None:
    ns = host.netns
    ip("netns", "add", ns)
    ip("link", "set", "lo", "up", netns=ns)
    # The SSH link: the machine's pol-v<i> (pol<k>-v<i> in slot k) to the host's en0.
    ip("link", "add", host.root_veth, "type", "veth", "peer", "name", "en0", "netns", ns)
    ip("addr", "add", f"{host.root_ip}/30", "dev", host.root_veth)
    ip("link", "set", host.root_veth, "up")
    ip("addr", "add", f"{host.ssh_ip}/30", "dev", "en0", netns=ns)
    ip("link", "set", "en0", "up", netns=ns)
    # The tailnet link: tailscale0 stays down and bare until tailscaled logs in.
    client = plan.client_netns
    ip("link", "add", "tailscale0", "netns", ns, "type", "veth", "peer", "name", host.client_veth, "netns", client)
    ip("link", "set", host.client_veth, "up", netns=client)
    ip("route", "add", f"{host.tailscale_ip}/32", "dev", host.client_veth, "src", plan.client_ip, netns=client)
    # From tailscale0, only the host's tailnet address is local; all else is refused.
    ip("rule", "add", "pref", "100", "iif", "tailscale0", "to", "100.64.0.0/10", "lookup", "local", netns=ns)
    ip("rule", "add", "pref", "101", "iif", "tailscale0", "prohibit", netns=ns)
    ip("rule", "add", "pref", "200", "lookup", "local", netns=ns)
    ip("rule", "del", "pref", "0", netns=ns)


def delete_link(name: str) -> None:
    """Delete a veth of the machine now (its peer goes with it); a deleted namespace frees its veths only later."""
    if subprocess.run(["ip", "link", "show", "dev", name], capture_output=True, check=False).returncode == 0:
        ip("link", "del", name)


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
