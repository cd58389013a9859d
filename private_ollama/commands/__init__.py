"""The admin tools, run on the admin laptop, as subcommands of one entry point.

    python -m private_ollama render  --out DIR [--inventory F] [--data K=V]...   every file the deploy installs, offline
    python -m private_ollama drift   [--inventory F] [--data K=V]...             exit 0 converged, 2 drifted, 1 error
    python -m private_ollama reapply [--inventory F] [--schedule KIND]          apply and report; or write a schedule
    python -m private_ollama keys    add|revoke|list [NAME]                      per-client API keys
    python -m private_ollama status  [--inventory F] [--json]                    per-client traffic of each Mac
    python -m private_ollama knobs   [--check]                                   the README's knob table

Each takes the inventory (default ``inventory.py``) and ``--data KEY=VALUE`` the
way pyinfra does, through ``private_ollama.inventory``; a bad key or value
stops it with the host and the key named, before anything connects.
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from pyinfra.api.exceptions import PyinfraError

from private_ollama.commands import drift, keys, knobs, reapply, render, status

COMMANDS: dict[str, ModuleType] = {
    "render": render, "drift": drift, "reapply": reapply, "keys": keys, "status": status, "knobs": knobs,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m private_ollama", description=__doc__.split("\n\n")[0])
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    for name, module in COMMANDS.items():
        module.add_arguments(subcommands.add_parser(name, help=module.__doc__.split("\n")[0]))
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command].run(args)
    except (PyinfraError, ValueError) as error:
        print(f"{args.command}: {error}", file=sys.stderr)
        return 1

