"""What the admin tools share: the inventory and ``--data``, taken as pyinfra takes them."""

from __future__ import annotations

import argparse

from private_ollama.inventory import Host, load, parse_data


def add_inventory_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-i", "--inventory", default="inventory.py", help="pyinfra inventory file (default: inventory.py)")
    parser.add_argument("--data", action="append", default=[], metavar="KEY=VALUE",
                        help="override a knob for every host, as `pyinfra --data` does (repeatable)")


def hosts(args: argparse.Namespace) -> list[Host]:
    """The inventory's hosts with ``--data`` over their own, validated."""
    return load(args.inventory, parse_data(args.data))


def pyinfra_data_arguments(args: argparse.Namespace) -> list[str]:
    """``--data`` again, for a pyinfra run."""
    return [f"--data={assignment}" for assignment in args.data]
