"""Write, for each inventory host, every file the deploy would install, without
connecting anywhere, so that a change can be reviewed and tested first.

    python render.py --out build/render
    python render.py --out build/render --tailscale-ip 100.101.102.103 \\
        --magicdns remote-ollama.tail1234.ts.net --inventory lab/inventory.py

Each host gets a folder laid out like the Mac (``Users/admin/Library/...``), plus
the client files. The HAProxy config is checked with ``haproxy -c`` when an
``haproxy`` binary is on PATH.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pyinfra.api import State
from pyinfra.api.exceptions import PyinfraError
from pyinfra.context import ctx_state
from pyinfra_cli.inventory import make_inventory

from desired_state.files import (
    Tailnet,
    api_key_map,
    api_key_map_path,
    client_files,
    haproxy_config,
    haproxy_job,
    ollama_job,
    plist_bytes,
)
from desired_state.layout import MacLayout
from desired_state.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parent


def render_host(settings: Settings, layout: MacLayout, tailnet: Tailnet) -> dict[str, bytes]:
    """Every file of one host: absolute path on the Mac (or client file name) -> content."""
    files = {
        layout.plist_path("ollama"): plist_bytes(ollama_job(settings, layout)),
        layout.plist_path("haproxy"): plist_bytes(haproxy_job(settings, layout)),
        layout.haproxy_config: haproxy_config(settings, layout, tailnet).encode(),
    }
    if settings.proxy_api_keys:
        files[api_key_map_path(layout)] = api_key_map(settings).encode()
    files.update({f"clients/{name}": text.encode() for name, text in client_files(settings, tailnet).items()})
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="folder to write into (one subfolder per host)")
    parser.add_argument("--inventory", default="inventory.py", help="pyinfra inventory file (default: inventory.py)")
    parser.add_argument("--tailscale-ip", default="100.101.102.103", help="the Mac's Tailscale IPv4 address")
    parser.add_argument("--magicdns", default=None, help="full MagicDNS name (default: <tailscale_hostname>.tailnet.ts.net)")
    parser.add_argument("--uid", type=int, default=501, help="the SSH user's uid on the Mac (default: 501)")
    args = parser.parse_args(argv)
    args.out = args.out.resolve()

    os.chdir(ROOT)  # group_data/ is found beside the project's files, as pyinfra does
    try:
        rendered = render_inventory(args)
    except (PyinfraError, ValueError) as error:
        print(f"render.py: {error}", file=sys.stderr)
        return 1
    # Written only once every host rendered: a bad host leaves no partial output.
    for folder, files in rendered.items():
        for path, content in files.items():
            target = folder / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            print(target)
    return check_haproxy_configs(rendered)


def render_inventory(args: argparse.Namespace) -> dict[Path, dict[str, bytes]]:
    """Every host's files, by the folder they go to; raises on a bad host."""
    with ctx_state.use(State()):  # pyinfra's inventory loader expects a deploy state
        hosts = list(make_inventory(args.inventory, cwd=str(ROOT)))
    if not hosts:
        raise ValueError(f"{args.inventory} lists no host")
    rendered = {}
    for host in hosts:
        try:
            settings = Settings.from_data(host.data.dict())
        except SettingsError as error:
            raise SettingsError(f"host {host.name}: {error}") from None
        user = host.data.get("ssh_user") or "admin"
        layout = MacLayout(settings, user=user, uid=args.uid, home=f"/Users/{user}")
        tailnet = Tailnet(ip=args.tailscale_ip, dns_name=args.magicdns or f"{settings.tailscale_hostname}.tailnet.ts.net")
        rendered[args.out / host.name.replace("/", "_")] = render_host(settings, layout, tailnet)
    return rendered


def check_haproxy_configs(rendered: dict[Path, dict[str, bytes]]) -> int:
    """``haproxy -c`` on each rendered config, when an haproxy binary is on PATH.

    The config names files by their path on the Mac (the key map): the check
    reads a copy that points into the rendered folder instead.
    """
    haproxy = shutil.which("haproxy")
    if not haproxy:
        print("render.py: no haproxy on PATH: the configs were not checked", file=sys.stderr)
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
                print(f"render.py: haproxy -c rejected {config}:\n{check.stdout}{check.stderr}", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
