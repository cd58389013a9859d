"""drift: plan the deploy without applying it, and say which hosts drifted.

    python -m private_ollama drift [--inventory FILE] [--data KEY=VALUE]...   # default: inventory.py

Exit 0 when every host is converged, 2 when some drifted (each drifted
operation is named with its hosts), 1 on error (a host unreachable, a fact that
failed, bad settings). This is the CI dry run against a test host.

pyinfra's ``--dry`` exits 0 even with changes pending, so this reads its JSON
plan instead. Operations on the admin laptop's own files (named
``[admin laptop] ...``) are not drift of a host and are left out.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys

from private_ollama import PROJECT
from private_ollama.commands.arguments import add_inventory_arguments, pyinfra_data_arguments
from private_ollama.inventory import inventory_path

LOCAL_OPERATION_PREFIX = "[admin laptop]"
CONVERGED, ERROR, DRIFTED = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_inventory_arguments(parser)


def plan(inventory: str, data: list[str]) -> tuple[int, dict | None, str]:
    """Run pyinfra's dry run; return its exit code, its JSON plan and its log."""
    run = subprocess.run(
        [sys.executable, "-m", "pyinfra", inventory, "deploy.py", "--dry", "--json", *data],
        cwd=PROJECT, capture_output=True, text=True, check=False,
    )
    try:
        return run.returncode, json.loads(run.stdout), run.stderr
    except json.JSONDecodeError:
        return run.returncode or ERROR, None, run.stderr + run.stdout


def plain_name(name: str) -> str:
    """An operation's name without pyinfra's "tasks/x.py | " prefix."""
    return name.split(" | ")[-1]


def drifted_operations(plan_json: dict) -> list[tuple[str, list[str]]]:
    """(operation name, hosts it would change) for every operation with a change."""
    drifted = []
    for operation in plan_json["plan"]:
        changed = operation["hosts_with_change"] + operation["hosts_with_conditional_change"]
        name = plain_name(operation["name"])
        if changed and not name.startswith(LOCAL_OPERATION_PREFIX):
            drifted.append((name, changed))
    return drifted


def run(args: argparse.Namespace) -> int:
    inventory = inventory_path(args.inventory)
    data = pyinfra_data_arguments(args)
    code, plan_json, log = plan(inventory, data)
    drifted = drifted_operations(plan_json) if plan_json else []
    for name, changed in drifted:
        print(f"drifted: {name}: {', '.join(changed)}")
    if code != 0 or plan_json is None:
        # The hosts that answered are reported above; the failure decides the exit.
        print(log.rstrip(), file=sys.stderr)
        print(f"drift check failed: pyinfra exited {code} (a host unreachable or a fact failed)", file=sys.stderr)
        return ERROR
    if drifted:
        print("run the deploy to repair:", shlex.join(["pyinfra", args.inventory, "deploy.py", "-y", *data]))
        return DRIFTED
    print("converged: no operation would change anything")
    return CONVERGED
