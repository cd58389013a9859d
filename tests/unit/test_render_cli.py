"""The render command writes every file the deploy would install, per host, offline;
the plists say what the data says and the HAProxy config passes `haproxy -c`."""

import plistlib
import subprocess
from pathlib import Path

import pytest

from private_ollama.desired_state.settings import Settings
from tests.admin import admin

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = "tests/unit/render_inventory.py"


def render(out: Path, *args: str, inventory: str = INVENTORY) -> subprocess.CompletedProcess:
    return admin("render", "--out", str(out), "--inventory", inventory, *args)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("render")
    run = render(out, "--tailscale-ip", "100.101.102.103", "--magicdns", "studio.tail1234.ts.net")
    assert run.returncode == 0, run.stderr
    return out


def test_agent_host_gets_launch_agents_and_its_config(rendered):
    home = rendered / "mac-a.invalid" / "Users" / "alice"
    ollama = plistlib.loads((home / "Library/LaunchAgents/org.private-ollama.ollama.plist").read_bytes())
    settings = Settings.from_data({"ssh_user": "alice"})
    assert ollama["ProgramArguments"] == ["/opt/homebrew/bin/ollama", "serve"]
    assert ollama["EnvironmentVariables"] == {
        "HOME": "/Users/alice", "OLLAMA_MODELS": "/Users/alice/.ollama/models", **settings.ollama_environment(),
    }
    assert ollama["KeepAlive"] is True and ollama["ThrottleInterval"] == settings.launchd_throttle_interval_s
    assert "UserName" not in ollama
    haproxy = plistlib.loads((home / "Library/LaunchAgents/org.private-ollama.haproxy.plist").read_bytes())
    assert haproxy["ProgramArguments"][-2:] == ["-f", "/Users/alice/.private-ollama/haproxy.cfg"]
    assert "bind 100.101.102.103:11434" in (home / ".private-ollama/haproxy.cfg").read_text()


def test_daemon_host_gets_launch_daemons_running_as_the_user(rendered):
    host = rendered / "mac-b.invalid"
    for service in ("ollama", "haproxy"):
        job = plistlib.loads((host / f"Library/LaunchDaemons/org.private-ollama.{service}.plist").read_bytes())
        assert job["UserName"] == "bob"
    assert "bind 100.101.102.103:8443" in (host / "Users/bob/.private-ollama/haproxy.cfg").read_text()


def test_client_files_use_the_magicdns_name(rendered):
    settings = (rendered / "mac-a.invalid" / "clients" / "client-settings.md").read_text()
    assert "OPENAI_BASE_URL=http://studio.tail1234.ts.net:11434/v1" in settings
    assert "ANTHROPIC_BASE_URL=http://studio.tail1234.ts.net:11434" in settings


def test_rendered_configs_pass_haproxy_check(rendered, tmp_path):
    for config in rendered.glob("*/Users/*/.private-ollama/haproxy.cfg"):
        # The config names the files it reads by their path on the Mac: point them into the rendered folder.
        mac_root = config.parents[3]
        local = tmp_path / f"{mac_root.name}.cfg"
        local.write_text(config.read_text().replace("/Users/", f"{mac_root}/Users/"))
        check = subprocess.run(["haproxy", "-c", "-f", str(local)], capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stdout + check.stderr


def test_render_refuses_a_wildcard_address(tmp_path):
    run = render(tmp_path, "--tailscale-ip", "0.0.0.0")
    assert run.returncode != 0
    assert "not a Tailscale" in run.stderr
    assert not list(tmp_path.iterdir())


def test_render_names_a_bad_key(tmp_path):
    inventory = tmp_path / "inventory.py"
    inventory.write_text("macs = [('mac-c.invalid', {'proxy_port': 0})]\n")
    run = render(tmp_path / "out", inventory=str(inventory))
    assert run.returncode == 1
    assert "mac-c.invalid" in run.stderr and "proxy_port" in run.stderr


def test_with_api_keys_the_key_map_is_rendered_and_the_config_checks(tmp_path):
    store = tmp_path / "api-keys.json"
    added = admin("keys", "--file", str(store), "add", "alice")
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip()
    inventory = tmp_path / "inventory.py"
    inventory.write_text(f"macs = [('mac-k.invalid', {{'proxy_api_keys': True, 'proxy_api_keys_file': {str(store)!r}}})]\n")
    run = render(tmp_path / "out", inventory=str(inventory))
    assert run.returncode == 0, run.stderr
    key_map = (tmp_path / "out/mac-k.invalid/Users/admin/.private-ollama/api-keys.map").read_text()
    assert "alice" in key_map and key not in key_map and key not in run.stdout + run.stderr
