"""The admin tools read each host's settings through one loader: per-host data and --data count in every
subcommand, a value that must be one for the inventory is refused when hosts differ, rendering needs no lab,
and a deploy to a real Mac loads nothing of the lab."""

from __future__ import annotations

import json
import os
import plistlib
import subprocess
import sys
from pathlib import Path

from tests.admin import admin

ROOT = Path(__file__).resolve().parents[2]
NO_LAB = {"PRIVATE_OLLAMA_LAB_DIR": "/nonexistent/lab", "PRIVATE_OLLAMA_MAC": ""}


def inventory(folder: Path, *hosts: dict) -> Path:
    """Hosts named mac-1.invalid, mac-2.invalid... with the given data; nothing here is ever connected to."""
    entries = [(f"mac-{index}.invalid", {"ssh_user": "admin", **data}) for index, data in enumerate(hosts, 1)]
    path = folder / "inventory.py"
    path.write_text(f"macs = {entries!r}\n")
    return path


def test_render_with_no_lab_and_no_mac_says_which_flag_to_pass(tmp_path):
    run = admin("render", "--out", str(tmp_path / "out"), env=NO_LAB)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "--example" in run.stderr
    assert not (tmp_path / "out").exists()


def test_render_example_needs_no_inventory_and_takes_data(tmp_path):
    run = admin("render", "--out", str(tmp_path), "--example", "--data", "proxy_port=8443", env=NO_LAB)
    assert run.returncode == 0, run.stderr
    config = tmp_path / "example-mac" / "Users" / "admin" / ".private-ollama" / "haproxy.cfg"
    assert "bind 100.101.102.103:8443" in config.read_text()


def test_render_takes_data_over_the_hosts_own(tmp_path):
    hosts = inventory(tmp_path, {"proxy_port": 9000}, {})
    run = admin("render", "--out", str(tmp_path / "out"), "--inventory", str(hosts), "--data", "proxy_port=8443")
    assert run.returncode == 0, run.stderr
    for name in ("mac-1.invalid", "mac-2.invalid"):
        config = tmp_path / "out" / name / "Users" / "admin" / ".private-ollama" / "haproxy.cfg"
        assert "bind 100.101.102.103:8443" in config.read_text()


def test_the_reapply_schedule_follows_the_inventory_and_data(tmp_path):
    hosts = inventory(tmp_path, {"reapply_interval_s": 900}, {"reapply_interval_s": 900})
    run = admin("reapply", "--inventory", str(hosts), "--schedule", "launchd", "--out", str(tmp_path / "schedule"),
                "--data", "launchd_label_prefix=com.example")
    assert run.returncode == 0, run.stderr
    job = plistlib.loads((tmp_path / "schedule" / "com.example.reapply.plist").read_bytes())
    assert (job["Label"], job["StartInterval"]) == ("com.example.reapply", 900)
    assert job["ProgramArguments"][1:] == ["-m", "private_ollama", "reapply", "--inventory", str(hosts),
                                           "--data=launchd_label_prefix=com.example"]


def test_a_knob_that_is_one_value_for_the_inventory_is_refused_when_hosts_differ(tmp_path):
    hosts = inventory(tmp_path, {"reapply_interval_s": 900}, {"reapply_interval_s": 600})
    run = admin("reapply", "--inventory", str(hosts), "--schedule", "cron", "--out", str(tmp_path / "schedule"))
    assert run.returncode == 1
    assert "reapply_interval_s differs between hosts (mac-1.invalid: 900, mac-2.invalid: 600)" in run.stderr
    assert not (tmp_path / "schedule").exists()


def test_keys_use_the_store_the_hosts_name(tmp_path):
    store = tmp_path / "store.json"
    hosts = inventory(tmp_path, {"proxy_api_keys_file": str(store)})
    assert admin("keys", "--inventory", str(hosts), "add", "alice").returncode == 0
    assert list(json.loads(store.read_text())["clients"]) == ["alice"]


def test_keys_take_data_over_the_hosts_own(tmp_path):
    hosts = inventory(tmp_path, {"proxy_api_keys_file": str(tmp_path / "theirs.json")})
    run = admin("keys", "--inventory", str(hosts), "--data", f"proxy_api_keys_file={tmp_path / 'mine.json'}",
                "add", "alice")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "mine.json").is_file() and not (tmp_path / "theirs.json").exists()


def test_keys_ask_which_host_when_hosts_name_different_stores(tmp_path):
    hosts = inventory(tmp_path, {"proxy_api_keys_file": str(tmp_path / "a.json")},
                      {"proxy_api_keys_file": str(tmp_path / "b.json")})
    refused = admin("keys", "--inventory", str(hosts), "add", "alice")
    assert refused.returncode == 1 and "proxy_api_keys_file differs between hosts" in refused.stderr
    chosen = admin("keys", "--inventory", str(hosts), "--host", "mac-2.invalid", "add", "alice")
    assert chosen.returncode == 0, chosen.stderr
    assert (tmp_path / "b.json").is_file() and not (tmp_path / "a.json").exists()


LOADED_LAB_MODULES = """
import json, sys, tempfile
from pathlib import Path
import importlib, pkgutil

from private_ollama.inventory import load
assert [host.name for host in load("inventory.py")] == ["mac-studio.invalid"]
from tests.unit.plan import ConvergedMac, plan
for deploy in ("deploy.py", "uninstall.py"):
    plan(ConvergedMac(Path(tempfile.mkdtemp())), deploy)
for package in ("private_ollama", "facts", "operations"):
    for module in pkgutil.walk_packages([package], prefix=f"{package}."):
        if not module.name.endswith(".__main__"):
            importlib.import_module(module.name)
print(json.dumps(sorted(name for name in sys.modules if name == "lab" or name.startswith("lab."))))
"""


def test_a_deploy_to_a_real_mac_loads_nothing_of_the_lab():
    run = admin_python(LOADED_LAB_MODULES, {"PRIVATE_OLLAMA_MAC": "admin@mac-studio.invalid"})
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.splitlines()[-1]) == []


def test_the_lab_check_sees_a_lab_module_when_one_is_loaded():
    run = admin_python(LOADED_LAB_MODULES.replace("import json, sys", "import lab.summary, json, sys"),
                       {"PRIVATE_OLLAMA_MAC": "admin@mac-studio.invalid"})
    assert "lab.summary" in json.loads(run.stdout.splitlines()[-1])


def admin_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Python code run from the project, as the deploy and the admin tools run."""
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **NO_LAB, **env, "PYTHONPATH": str(ROOT)}, check=False)
