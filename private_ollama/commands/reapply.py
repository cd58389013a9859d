"""reapply: run the deploy, repair any drift, and append one JSON report line per run.

    python -m private_ollama reapply [--inventory FILE] [--data KEY=VALUE]...    # one run
    python -m private_ollama reapply --schedule launchd --out DIR    # a LaunchAgent for the admin laptop
    python -m private_ollama reapply --schedule systemd --out DIR    # or a systemd service + timer
    python -m private_ollama reapply --schedule cron --out DIR       # or a crontab line

The report line holds the time, the hosts, the changed operations and the
errors. The interval (reapply_interval_s), the report file (reapply_report) and
the schedule's label (launchd_label_prefix) are knobs, one value for the whole
inventory. Exit 0 when the run succeeded (changed or not), 1 when a host failed.
"""

from __future__ import annotations

import argparse
import json
import os
import plistlib
import subprocess
import sys
import time
from pathlib import Path

import jinja2

from private_ollama import PROJECT
from private_ollama.commands.arguments import add_inventory_arguments, hosts, pyinfra_data_arguments
from private_ollama.commands.drift import plain_name
from private_ollama.inventory import inventory_path, one_value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_inventory_arguments(parser)
    parser.add_argument("--schedule", choices=["launchd", "systemd", "cron"], help="write schedule files instead of running")
    parser.add_argument("--out", type=Path, default=PROJECT / "build" / "schedule", help="where the schedule files go")


def apply(inventory: str, data: list[str] = ()) -> dict:
    """Run the deploy once; return the report line."""
    started = time.time()
    run = subprocess.run(
        [sys.executable, "-m", "pyinfra", inventory_path(inventory), "deploy.py", "-y", "--json", *data],
        cwd=PROJECT, capture_output=True, text=True, check=False,
    )
    report = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "inventory": inventory,
        "duration_s": round(time.time() - started, 2),
        "exit": run.returncode,
        "hosts": [],
        "changed": [],
        "errors": [],
    }
    try:
        results = json.loads(run.stdout)["results"]
    except (json.JSONDecodeError, KeyError, TypeError):
        report["errors"].append(_last_lines(run.stderr or run.stdout))
        return report
    seen = set()
    for operation in results["operations"]:
        seen.update(operation["success"] + operation["error"] + operation["no_change"])
        if operation["success"]:
            report["changed"].append({"operation": plain_name(operation["name"]), "hosts": operation["success"]})
        if operation["error"]:
            report["errors"].append({"operation": plain_name(operation["name"]), "hosts": operation["error"]})
    if run.returncode != 0 and not report["errors"]:
        report["errors"].append(_last_lines(run.stderr))
    report["hosts"] = sorted(seen)
    return report


def _last_lines(text: str, count: int = 5) -> str:
    return "\n".join(text.strip().splitlines()[-count:])


def schedule_files(kind: str, argv: list[str], interval_s: int, label: str) -> dict[str, str | bytes]:
    """The files that run ``argv`` (this command, without --schedule) every ``interval_s`` seconds."""
    if kind == "launchd":
        job = {
            "Label": label,
            "ProgramArguments": argv,
            "WorkingDirectory": str(PROJECT),
            "StartInterval": interval_s,
            "RunAtLoad": True,
            "EnvironmentVariables": {"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            "StandardOutPath": str(PROJECT / "build" / "reapply.log"),
            "StandardErrorPath": str(PROJECT / "build" / "reapply.log"),
        }
        return {f"{label}.plist": plistlib.dumps(job, sort_keys=True)}
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(PROJECT / "templates"), undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
    )
    context = {"argv": " ".join(argv), "root": str(PROJECT), "interval_s": interval_s}
    if kind == "systemd":
        return {
            name: templates.get_template(f"{name}.j2").render(**context)
            for name in ("private-ollama-reapply.service", "private-ollama-reapply.timer")
        }
    return {"crontab": templates.get_template("reapply.crontab.j2").render(**context)}


def reapply_argv(args: argparse.Namespace) -> list[str]:
    """This command as a schedule runs it: the same inventory (absolute) and --data."""
    return [sys.executable, "-m", "private_ollama", "reapply", "--inventory", inventory_path(args.inventory),
            *pyinfra_data_arguments(args)]


def run(args: argparse.Namespace) -> int:
    loaded = hosts(args)
    if args.schedule:
        label = f"{one_value(loaded, 'launchd_label_prefix')}.reapply"
        files = schedule_files(args.schedule, reapply_argv(args), one_value(loaded, "reapply_interval_s"), label)
        args.out.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            path = args.out / name
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
            print(path)
        return 0

    report_path = PROJECT / one_value(loaded, "reapply_report")
    report = apply(args.inventory, pyinfra_data_arguments(args))
    report_path.parent.mkdir(parents=True, exist_ok=True)
    with report_path.open("a") as log:
        log.write(json.dumps(report) + "\n")
    print(json.dumps(report))
    return 0 if report["exit"] == 0 and not report["errors"] else 1
