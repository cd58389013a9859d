"""Periodic re-apply: run the deploy, repair any drift, and append one JSON
report line per run (time, hosts, changed operations, errors).

    python reapply.py [INVENTORY]                      # one run (default: inventory.py)
    python reapply.py --schedule launchd --out DIR     # write a LaunchAgent for the admin laptop
    python reapply.py --schedule systemd --out DIR     # or a systemd service + timer
    python reapply.py --schedule cron --out DIR        # or a crontab line

The interval (reapply_interval_s) and the report file (reapply_report) are knobs
in group_data/all.py. Exit 0 when the run succeeded (changed or not), 1 when a
host failed.
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

from desired_state.inventory import settings_for
from drift import plain_name

ROOT = Path(__file__).resolve().parent
LABEL = "org.private-ollama.reapply"


def apply(inventory: str) -> dict:
    """Run the deploy once; return the report line."""
    started = time.time()
    run = subprocess.run(
        [sys.executable, "-m", "pyinfra", inventory, "deploy.py", "-y", "--json"],
        cwd=ROOT, capture_output=True, text=True, check=False,
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
    hosts = set()
    for operation in results["operations"]:
        hosts.update(operation["success"] + operation["error"] + operation["no_change"])
        if operation["success"]:
            report["changed"].append({"operation": plain_name(operation["name"]), "hosts": operation["success"]})
        if operation["error"]:
            report["errors"].append({"operation": plain_name(operation["name"]), "hosts": operation["error"]})
    if run.returncode != 0 and not report["errors"]:
        report["errors"].append(_last_lines(run.stderr))
    report["hosts"] = sorted(hosts)
    return report


def _last_lines(text: str, count: int = 5) -> str:
    return "\n".join(text.strip().splitlines()[-count:])


def schedule_files(kind: str, inventory: str, interval_s: int) -> dict[str, str | bytes]:
    """The files that run ``reapply.py`` every ``interval_s`` seconds."""
    argv = [sys.executable, str(ROOT / "reapply.py"), inventory]
    if kind == "launchd":
        job = {
            "Label": LABEL,
            "ProgramArguments": argv,
            "WorkingDirectory": str(ROOT),
            "StartInterval": interval_s,
            "RunAtLoad": True,
            "EnvironmentVariables": {"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            "StandardOutPath": str(ROOT / "build" / "reapply.log"),
            "StandardErrorPath": str(ROOT / "build" / "reapply.log"),
        }
        return {f"{LABEL}.plist": plistlib.dumps(job, sort_keys=True)}
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROOT / "templates"), undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
    )
    context = {"argv": " ".join(argv), "root": str(ROOT), "interval_s": interval_s}
    if kind == "systemd":
        return {
            name: templates.get_template(f"{name}.j2").render(**context)
            for name in ("private-ollama-reapply.service", "private-ollama-reapply.timer")
        }
    return {"crontab": templates.get_template("reapply.crontab.j2").render(**context)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("inventory", nargs="?", default="inventory.py")
    parser.add_argument("--schedule", choices=["launchd", "systemd", "cron"], help="write schedule files instead of running")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "schedule")
    args = parser.parse_args(argv)
    settings = settings_for({})

    if args.schedule:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, content in schedule_files(args.schedule, args.inventory, settings.reapply_interval_s).items():
            path = args.out / name
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
            print(path)
        return 0

    report = apply(args.inventory)
    report_path = ROOT / settings.reapply_report
    report_path.parent.mkdir(parents=True, exist_ok=True)
    with report_path.open("a") as log:
        log.write(json.dumps(report) + "\n")
    print(json.dumps(report))
    return 0 if report["exit"] == 0 and not report["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
