"""uninstall.py against canned facts: it removes the jobs and the config, and
keeps the models and the Homebrew packages unless asked."""

import pytest

from tests.unit.plan import ConvergedMac, plan, planned_commands

JOBS = ["Ensure the haproxy launchd job is gone", "Ensure the ollama launchd job is gone"]
CONFIG = "Ensure /Users/admin/.private-ollama is gone"
LOGS = "Ensure /Users/admin/Library/Logs/private-ollama is gone"
MODELS = "Ensure the models in /Users/admin/.ollama/models are gone"
PACKAGES = "Ensure the Homebrew packages are gone"


def test_uninstall_boots_out_both_jobs_and_removes_the_config(tmp_path):
    mac = ConvergedMac(tmp_path)
    commands = planned_commands(mac, deploy="uninstall.py")
    assert list(commands) == [*JOBS, CONFIG, LOGS]
    assert any(c.startswith("launchctl bootout gui/501/org.private-ollama.ollama") for c in commands[JOBS[1]])
    assert any("org.private-ollama.ollama.plist" in c and c.startswith("rm") for c in commands[JOBS[1]])


def test_uninstall_on_a_clean_mac_plans_nothing(tmp_path):
    mac = ConvergedMac(tmp_path)
    for service in ("ollama", "haproxy"):
        mac.boot_out(service)
        del mac.files[mac.layout.plist_path(service)]
    del mac.directories[mac.layout.config_dir]
    del mac.directories[mac.layout.log_dir]
    assert plan(mac, deploy="uninstall.py") == []


@pytest.mark.parametrize(("knob", "operation"), [("uninstall_remove_models", MODELS), ("uninstall_remove_packages", PACKAGES)])
def test_models_and_packages_go_only_when_asked(tmp_path, knob, operation):
    mac = ConvergedMac(tmp_path, **{knob: True})
    mac.directories[mac.layout.models_dir] = 755
    commands = planned_commands(mac, deploy="uninstall.py")
    assert operation in commands
    if operation == PACKAGES:
        assert commands[PACKAGES] == ["brew uninstall ollama haproxy tailscale"]
