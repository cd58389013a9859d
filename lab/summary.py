"""How to reach the running lab, as one line of JSON (the last line `make lab` prints).

    python -m lab.summary            # {"proxy_url": ..., "tailscale_ip": ..., ...}
    python -m lab.summary --hosts    # testinfra's --hosts value for every lab host
"""

from __future__ import annotations

import json
import sys

from private_ollama import PROJECT
from private_ollama.inventory import load, read_lab


def summary(lab: dict) -> dict:
    first = lab["hosts"][0]
    port = load(str(PROJECT / "lab" / "inventory.py"))[0].settings.proxy_port
    return {
        "proxy_url": f"http://{first['tailscale_ip']}:{port}",
        "tailscale_ip": first["tailscale_ip"],
        "magicdns_name": first["magicdns_name"],
        "ssh_config": lab["ssh_config"],
        "ssh_host": first["name"],
        "client_netns": lab["client_netns"],
        "try": f"ip netns exec {lab['client_netns']} curl -s http://{first['magicdns_name']}:{port}/api/tags",
        "hosts": [host["name"] for host in lab["hosts"]],
    }


def main(argv: list[str]) -> int:
    lab = read_lab()
    if argv == ["--hosts"]:
        print(",".join(f"ssh://{host['name']}" for host in lab["hosts"]))
    else:
        print(json.dumps(summary(lab)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
