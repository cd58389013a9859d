"""keys: per-client API keys for the proxy (knob proxy_api_keys), kept on the admin laptop.

    python -m private_ollama keys add NAME       # prints NAME's new key, once; stores only its hash
    python -m private_ollama keys revoke NAME
    python -m private_ollama keys list           # client names only
    python -m private_ollama keys --inventory F --host H add NAME   # the store of host H (proxy_api_keys_file)
    python -m private_ollama keys --file PATH add NAME              # a store named directly

The store is the inventory's proxy_api_keys_file (with --data, as the deploy
sees it); when hosts name different stores, --host picks one. A change reaches
the Mac at the next apply (pyinfra inventory.py deploy.py): the deploy installs
the hashes for HAProxy and reloads it. The store lives outside git: this
command refuses a path that git would track.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from private_ollama import PROJECT
from private_ollama.commands.arguments import add_inventory_arguments, hosts
from private_ollama.desired_state.api_keys import KeyStore, KeyStoreError
from private_ollama.inventory import one_value

REAPPLY = "apply the deploy for it to take effect on the Mac: pyinfra inventory.py deploy.py"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_inventory_arguments(parser)
    parser.add_argument("--host", help="the inventory host whose store to use, when hosts name different stores")
    parser.add_argument("--file", type=Path, help="the key store itself, instead of the inventory's proxy_api_keys_file")
    commands = parser.add_subparsers(dest="keys_command", required=True, metavar="add|revoke|list")
    commands.add_parser("add", help="make a key for a new client and print it once").add_argument("name")
    commands.add_parser("revoke", help="remove a client's key").add_argument("name")
    commands.add_parser("list", help="print the clients' names")


def tracked_by_git(path: Path) -> bool:
    """Whether ``path`` is inside a git work tree and not ignored there."""
    folder = next(parent for parent in path.parents if parent.is_dir())
    try:
        check = subprocess.run(["git", "-C", str(folder), "check-ignore", "-q", str(path)],
                               capture_output=True, check=False, timeout=30)
    except FileNotFoundError:
        return False  # no git, no repository to leak into
    return check.returncode == 1  # 0: ignored; 128: not in a work tree


def store_path(args: argparse.Namespace) -> Path:
    if args.file:
        return args.file.resolve()
    chosen = hosts(args)
    if args.host:
        chosen = [host for host in chosen if host.name == args.host]
        if not chosen:
            raise KeyStoreError(f"{args.inventory} has no host named {args.host}")
    return PROJECT / one_value(chosen, "proxy_api_keys_file")


def run(args: argparse.Namespace) -> int:
    store = KeyStore(store_path(args))
    if args.keys_command == "list":
        for name in sorted(store.clients()):
            print(name)
        return 0
    if tracked_by_git(store.path):
        raise KeyStoreError(f"{store.path} would be tracked by git: add it to .gitignore, or use --file elsewhere")
    if args.keys_command == "add":
        print(store.add(args.name))
        print(f"keys: the key above is {args.name}'s only copy: hand it over now; {REAPPLY}", file=sys.stderr)
    else:
        store.revoke(args.name)
        print(f"keys: {args.name}'s key is revoked in {store.path}; {REAPPLY}", file=sys.stderr)
    return 0
