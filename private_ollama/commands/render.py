"""render: write every file the deploy would install, for each inventory host, without connecting anywhere.

    python -m private_ollama render --out build/render [--inventory FILE] [--data KEY=VALUE]...
    python -m private_ollama render --out build/render --example     # one example Mac, no inventory needed
    python -m private_ollama render --out build/render --tailscale-ip 100.101.102.103 \\
        --magicdns remote-ollama.tail1234.ts.net --inventory lab/inventory.py

Each host gets a folder laid out like the Mac (``Users/admin/Library/...``), plus
the client files. The HAProxy config is checked with ``haproxy -c`` when an
``haproxy`` binary is on PATH. Nothing is written unless every host renders.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pyinfra.api.exceptions import InventoryError

from private_ollama.commands.arguments import add_inventory_arguments, hosts
from private_ollama.desired_state.files import (
    Tailnet,
    client_files,
    haproxy_config,
    haproxy_files,
    haproxy_job,
    ollama_job,
    plist_bytes,
)
from private_ollama.desired_state.layout import MacLayout
from private_ollama.desired_state.settings import Settings
from private_ollama.inventory import Host, parse_data

EXAMPLE_HOST = "example-mac"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="folder to write into (one subfolder per host)")
    add_inventory_arguments(parser)
    parser.add_argument("--example", action="store_true",
                        help=f"render one example Mac ({EXAMPLE_HOST}, user admin) instead of the inventory's")
    parser.add_argument("--tailscale-ip", default="100.101.102.103", help="the Mac's Tailscale IPv4 address")
    parser.add_argument("--magicdns", default=None, help="full MagicDNS name (default: <tailscale_hostname>.tailnet.ts.net)")
    parser.add_argument("--uid", type=int, default=501, help="the SSH user's uid on the Mac (default: 501)")


def run(args: argparse.Namespace) -> int:
    out = args.out.resolve()
    rendered = {out / host.name.replace("/", "_"): render_host(host, args) for host in _hosts(args)}
    for folder, files in rendered.items():
        for path, content in files.items():
            target = folder / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            print(target)
    return check_haproxy_configs(rendered)


def _hosts(args: argparse.Namespace) -> list[Host]:
    if args.example:
        data = parse_data(args.data)
        return [Host(EXAMPLE_HOST, data, Settings.from_data(data, host=EXAMPLE_HOST))]
    try:
        return hosts(args)
    except InventoryError as error:
        raise InventoryError(f"{error}; or pass --example to render an example Mac") from None


def render_host(host: Host, args: argparse.Namespace) -> dict[str, bytes]:
    """Every file of one host: absolute path on the Mac (or client file name) -> content."""
    settings = host.settings
    layout = MacLayout(settings, user=host.ssh_user, uid=args.uid, home=f"/Users/{host.ssh_user}")
    tailnet = Tailnet(ip=args.tailscale_ip, dns_name=args.magicdns or f"{settings.tailscale_hostname}.tailnet.ts.net")
    files = {
        layout.plist_path("ollama"): plist_bytes(ollama_job(settings, layout)),
        layout.plist_path("haproxy"): plist_bytes(haproxy_job(settings, layout)),
        layout.haproxy_config: haproxy_config(settings, layout, tailnet).encode(),
    }
    files.update({path: text.encode() for path, text in haproxy_files(settings, layout).items()})
    files.update({f"clients/{name}": text.encode() for name, text in client_files(settings, tailnet).items()})
    return files


def check_haproxy_configs(rendered: dict[Path, dict[str, bytes]]) -> int:
    """``haproxy -c`` on each rendered config, when an haproxy binary is on PATH.

    The config names files by their path on the Mac (the key map): the check
    reads a copy that points into the rendered folder instead.
    """
    haproxy = shutil.which("haproxy")
    if not haproxy:
        print("render: no haproxy on PATH: the configs were not checked", file=sys.stderr)
        return 0
    for folder, files in rendered.items():
        for path in files:
            if not path.endswith("/haproxy.cfg"):
                continue
            config = folder / path.lstrip("/")
            home = "/" + "/".join(path.strip("/").split("/")[:2])  # /Users/<user>
            local = config.read_text().replace(f"{home}/", f"{folder}{home}/")
            with tempfile.NamedTemporaryFile("w", suffix=".cfg") as copy:
                copy.write(local)
                copy.flush()
                check = subprocess.run([haproxy, "-c", "-f", copy.name], capture_output=True, text=True, check=False)
            if check.returncode != 0:
                print(f"render: haproxy -c rejected {config}:\n{check.stdout}{check.stderr}", file=sys.stderr)
                return 1
    return 0
