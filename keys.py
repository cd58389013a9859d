"""API keys for the proxy's clients (knob proxy_api_keys), kept on the admin laptop.

    python keys.py add NAME       # prints NAME's new key, once; stores only its hash
    python keys.py revoke NAME
    python keys.py list           # client names only
    python keys.py --file PATH …  # another store than proxy_api_keys_file

A change reaches the Mac at the next apply (pyinfra inventory.py deploy.py):
the deploy installs the hashes for HAProxy and reloads it. The store lives
outside git: this command refuses a path that git would track.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from desired_state.api_keys import KeyStore, KeyStoreError
from desired_state.inventory import defaults

ROOT = Path(__file__).resolve().parent
REAPPLY = "apply the deploy for it to take effect on the Mac: pyinfra inventory.py deploy.py"


def tracked_by_git(path: Path) -> bool:
    """Whether ``path`` is inside a git work tree and not ignored there."""
    folder = next(parent for parent in path.parents if parent.is_dir())
    try:
        check = subprocess.run(["git", "-C", str(folder), "check-ignore", "-q", str(path)],
                               capture_output=True, check=False, timeout=30)
    except FileNotFoundError:
        return False  # no git, no repository to leak into
    return check.returncode == 1  # 0: ignored; 128: not in a work tree


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, help="the key store (default: the knob proxy_api_keys_file)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("add", help="make a key for a new client and print it once").add_argument("name")
    commands.add_parser("revoke", help="remove a client's key").add_argument("name")
    commands.add_parser("list", help="print the clients' names")
    args = parser.parse_args(argv)
    store = KeyStore(args.file.resolve() if args.file else ROOT / defaults()["proxy_api_keys_file"])
    try:
        if args.command == "list":
            for name in sorted(store.clients()):
                print(name)
            return 0
        if tracked_by_git(store.path):
            raise KeyStoreError(f"{store.path} would be tracked by git: add it to .gitignore, or use --file elsewhere")
        if args.command == "add":
            print(store.add(args.name))
            print(f"keys.py: the key above is {args.name}'s only copy: hand it over now; {REAPPLY}", file=sys.stderr)
        else:
            store.revoke(args.name)
            print(f"keys.py: {args.name}'s key is revoked in {store.path}; {REAPPLY}", file=sys.stderr)
    except KeyStoreError as error:
        print(f"keys.py: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
