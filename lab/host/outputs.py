"""What `up` hands to the admin side: lab.json, an OpenSSH client config, known_hosts.

``lab.json`` is the interface of the lab (``private_ollama/inventory.py`` reads it); here a lab in slot 1::

    {"slot": 1,
     "hosts": [{"name": "lab-mac-1", "ssh_hostname": "198.51.100.66", "ssh_port": 22,
                "ssh_user": "admin", "tailscale_ip": "100.85.102.103",
                "magicdns_name": "remote-ollama.tail1a2b3c.ts.net", "netns": "pol1-mac-1",
                "data": {"tailscale_hostname": "remote-ollama", "ollama_models": ["llama3.2"]}}],
     "client_netns": "pol1-client", "ssh_config": "/…/.lab/ssh_config", "ssh_key": "/…/.lab/id_ed25519",
     "known_hosts": "/…/.lab/known_hosts", "authkey_file": "/…/.lab/authkey", ...}
"""

from __future__ import annotations

import json
from pathlib import Path

from lab.host.layout import ADMIN_USER, LabPaths, LabPlan

LAB_MODEL = "llama3.2"


def write_outputs(paths: LabPaths, plan: LabPlan) -> None:
    paths.known_hosts.write_text(known_hosts(paths, plan))
    paths.ssh_config.write_text(ssh_config(paths, plan))
    paths.lab_json.write_text(json.dumps(lab_json(paths, plan), indent=2) + "\n")


def known_hosts(paths: LabPaths, plan: LabPlan) -> str:
    lines = []
    for host in plan.hosts:
        key_type, key = Path(f"{paths.host_key(host.index)}.pub").read_text().split()[:2]
        lines.append(f"{host.name},{host.ssh_ip} {key_type} {key}\n")
    return "".join(lines)


def ssh_config(paths: LabPaths, plan: LabPlan) -> str:
    blocks = [
        f"Host {host.name}\n"
        f"  HostName {host.ssh_ip}\n"
        f"  User {ADMIN_USER}\n"
        f"  Port 22\n"
        f"  IdentityFile {paths.ssh_key}\n"
        f"  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {paths.known_hosts}\n"
        f"  StrictHostKeyChecking yes\n"
        for host in plan.hosts
    ]
    return "# The lab's Macs, written by `lab/labctl up`.\n\n" + "\n".join(blocks)


def lab_json(paths: LabPaths, plan: LabPlan) -> dict:
    return {
        "slot": plan.slot,
        "hosts": [
            {
                "name": host.name,
                "ssh_hostname": host.ssh_ip,
                "ssh_port": 22,
                "ssh_user": ADMIN_USER,
                "tailscale_ip": host.tailscale_ip,
                "magicdns_name": plan.magicdns_name(host),
                "netns": host.netns,
                # pyinfra host data: the node name that gives this MagicDNS name, and the model a first try
                # asks for (the README's `curl`), pulled by the deploy from the lab's registry.
                "data": {"tailscale_hostname": host.tailscale_hostname, "ollama_models": [LAB_MODEL]},
            }
            for host in plan.hosts
        ],
        "client_netns": plan.client_netns,
        "client_tailscale_ip": plan.client_ip,
        "magicdns_suffix": plan.magicdns_suffix,
        "ssh_config": str(paths.ssh_config),
        "ssh_key": str(paths.ssh_key),
        "known_hosts": str(paths.known_hosts),
        "authkey_file": str(paths.authkey),
    }
