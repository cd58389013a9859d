"""The drift check's exit codes and report, and the periodic re-apply's schedules."""

import json
import plistlib
import sys
from pathlib import Path

import pytest

from private_ollama.commands import drift, reapply
from tests.admin import admin

ROOT = Path(__file__).resolve().parents[2]
ARGV = [sys.executable, "-m", "private_ollama", "reapply", "--inventory", str(ROOT / "inventory.py")]


def operation(name, changed=(), conditional=()):
    return {"name": name, "hosts_with_change": list(changed), "hosts_with_conditional_change": list(conditional)}


def test_drifted_operations_names_each_operation_and_its_hosts():
    plan = {"plan": [
        operation("tasks/haproxy.py | Ensure the HAProxy allowlist config is valid and live", ["mac-a", "mac-b"]),
        operation("tasks/ollama.py | Ensure Ollama runs as a launchd job on loopback"),
        operation("tasks/packages.py | Ensure packages", conditional=["mac-b"]),
        operation("tasks/clients.py | [admin laptop] Ensure the client settings are written", ["mac-a"]),
    ]}
    assert drift.drifted_operations(plan) == [
        ("Ensure the HAProxy allowlist config is valid and live", ["mac-a", "mac-b"]),
        ("Ensure packages", ["mac-b"]),
    ]


def test_unreachable_host_is_an_error_not_a_drift(tmp_path):
    inventory = tmp_path / "inventory.py"
    # Port 1 on loopback: refused at once, no traffic leaves the machine.
    inventory.write_text('macs = [("127.0.0.1", {"ssh_port": 1, "ssh_user": "admin"})]\n')
    run = admin("drift", "--inventory", str(inventory))
    assert run.returncode == drift.ERROR
    assert "Could not connect" in run.stderr and "drift check failed" in run.stderr


@pytest.mark.parametrize("interval", [300, 3600, 7200])
def test_systemd_timer_and_cron_run_at_the_interval(interval):
    systemd = reapply.schedule_files("systemd", ARGV, interval, "org.private-ollama.reapply")
    assert f"OnUnitActiveSec={interval}s" in systemd["private-ollama-reapply.timer"]
    assert f"private_ollama reapply --inventory {ROOT / 'inventory.py'}" in systemd["private-ollama-reapply.service"]
    cron_line = reapply.schedule_files("cron", ARGV, interval, "org.private-ollama.reapply")["crontab"].splitlines()[-1]
    minutes = "*/5" if interval == 300 else "0"
    hours = "*" if interval == 300 else f"*/{interval // 3600}"
    assert cron_line.startswith(f"{minutes} {hours} * * * cd {ROOT} && ")


def test_launchd_schedule_is_a_plist_with_the_interval():
    job = plistlib.loads(reapply.schedule_files("launchd", ARGV, 900, "org.private-ollama.reapply")[
        "org.private-ollama.reapply.plist"])
    assert job["StartInterval"] == 900
    assert job["ProgramArguments"] == ARGV
    assert job["WorkingDirectory"] == str(ROOT)


def test_reapply_reports_an_unreachable_host_as_an_error(tmp_path):
    inventory = tmp_path / "inventory.py"
    inventory.write_text('macs = [("127.0.0.1", {"ssh_port": 1, "ssh_user": "admin"})]\n')
    report = reapply.apply(str(inventory))
    assert report["exit"] != 0 and report["errors"]
    assert json.loads(json.dumps(report))["changed"] == []
