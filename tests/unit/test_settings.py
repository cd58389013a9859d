"""Bad knobs fail before anything connects, with a message naming the key."""

import subprocess
import sys
from pathlib import Path

import pytest

from private_ollama.desired_state.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_valid():
    settings = Settings.from_data({})
    assert settings.service_mode == "agent"
    assert [(r.method, r.path) for r in settings.allowed_routes] == [
        ("POST", "/v1/chat/completions"), ("GET", "/v1/models"), ("GET", "/v1/models/{model}"), ("POST", "/v1/responses"),
        ("POST", "/v1/messages"), ("GET", "/api/version"), ("GET", "/api/tags"), ("POST", "/api/show"),
    ]  # today's 8 routes, from the three default sets


@pytest.mark.parametrize(
    ("override", "key", "reason"),
    [
        ({"ollama_extra_routes": [("FETCH", "/api/tags")]}, "ollama_extra_routes.0.method", "unknown HTTP method"),
        ({"ollama_extra_routes": [("get", "/api/tags")]}, "ollama_extra_routes.0.method", "unknown HTTP method"),
        ({"ollama_extra_routes": [("GET", "api/tags")]}, "ollama_extra_routes.0.path", "not absolute"),
        ({"ollama_extra_routes": [("GET", "/api/tags/")]}, "ollama_extra_routes.0.path", "trailing"),
        ({"ollama_extra_routes": [("GET", "/api/../pull")]}, "ollama_extra_routes.0.path", "dot segment"),
        ({"ollama_extra_routes": [("GET", "/v1/models/x{model}")]}, "ollama_extra_routes.0.path", "whole segment"),
        ({"ollama_extra_routes": [("GET", "/api/%74ags")]}, "ollama_extra_routes.0.path", "percent"),
        ({"ollama_extra_routes": [("GET", "/a"), ("GET", "/a")]}, "ollama_extra_routes", "twice"),
        ({"ollama_route_sets": [], "ollama_extra_routes": []}, "(settings)", "no route to forward"),
        ({"proxy_port": 70000}, "proxy_port", "less than or equal to 65535"),
        ({"ollama_port": 0}, "ollama_port", "greater than or equal to 1"),
        ({"ollama_model_id_pattern": "[a-z"}, "ollama_model_id_pattern", "malformed pattern"),
        ({"ollama_model_id_pattern": ".+"}, "ollama_model_id_pattern", "one safe path segment"),
        ({"ollama_model_id_pattern": "^[a-z]+$"}, "ollama_model_id_pattern", "anchors"),
        ({"ollama_model_id_pattern": "[a-z']+"}, "ollama_model_id_pattern", "quotes"),
        ({"service_mode": "cron"}, "service_mode", "'agent' or 'daemon'"),
        ({"ollama_listen_address": "0.0.0.0"}, "ollama_listen_address", "not a loopback address"),
        ({"ollama_listen_address": "100.101.102.103"}, "ollama_listen_address", "not a loopback address"),
        ({"ollama_extra_env": {"OLLAMA_HOST": "0.0.0.0"}}, "ollama_extra_env", "OLLAMA_HOST"),
        ({"homebrew_prefix": "~/brew"}, "homebrew_prefix", "absolute path"),
        ({"proxy_timeout_server": "30"}, "proxy_timeout_server", "pattern"),
        ({"proxy_metrics_port": 11434}, "(settings)", "must differ"),
        ({"tailscale_tags": ["ai-server"]}, "tailscale_tags.0", "pattern"),
    ],
)
def test_bad_knob_is_named(override, key, reason):
    with pytest.raises(SettingsError) as error:
        Settings.from_data(override)
    assert f"{key}: " in str(error.value)
    assert reason in str(error.value)


def test_model_route_is_anchored_to_one_segment():
    settings = Settings.from_data({})
    route = next(r for r in settings.allowed_routes if r.has_model)
    import re

    pattern = re.compile(route.regex(settings.ollama_model_id_pattern))
    assert pattern.match("/v1/models/llama3.2:latest")
    assert pattern.match("/v1/models/qwen2.5-coder%3A32b")
    for hostile in ("/v1/models/", "/v1/models/../../api/pull", "/v1/models/a/b", "/v1/models/hf.co/org/name",
                    "/v1/models/llama3.2:latest/", "/v1/models/..", "/x/v1/models/a", "/v1/models/a%2Fb"):
        assert not pattern.match(hostile), hostile


def test_ollama_environment_pins_loopback_and_no_cloud():
    env = Settings.from_data({"ollama_extra_env": {"OLLAMA_DEBUG": "1"}}).ollama_environment()
    assert env["OLLAMA_HOST"] == "127.0.0.1:11434"
    assert env["OLLAMA_NO_CLOUD"] == "1"
    assert env["OLLAMA_DEBUG"] == "1"
    assert "OLLAMA_NO_CLOUD" not in Settings.from_data({"ollama_no_cloud": False}).ollama_environment()


def test_bad_inventory_fails_before_connecting(tmp_path):
    inventory = tmp_path / "inventory.py"
    inventory.write_text(
        "from private_ollama.inventory import validated_hosts\n"
        "macs = validated_hosts([('mac.invalid', {'ssh_user': 'admin', 'service_mode': 'cron'})])\n",
    )
    run = subprocess.run(
        [sys.executable, "-m", "pyinfra", str(inventory), "deploy.py", "--dry", "-y"],
        cwd=ROOT, capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert "host mac.invalid" in output and "service_mode" in output
    assert "Connecting to hosts" not in output
