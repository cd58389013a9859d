"""testinfra checks for any host running the private Ollama server: a real Mac
or the lab. They use only what works on macOS (lsof, launchctl print, files,
commands): testinfra's socket and service modules do not.

    pytest tests/host --hosts=ssh://admin@mac-studio.local
    pytest tests/host --ssh-config=.lab/ssh_config --hosts=ssh://lab-mac-1

The knobs are group_data/all.py's defaults; where a host overrides one of them,
pass the same override here as PRIVATE_OLLAMA_DATA='{"proxy_port": 8443}'. With
API keys on, give one in PRIVATE_OLLAMA_API_KEY (it is sent from the host
itself, so it shows in the curl command of a failing check).
"""

from __future__ import annotations

import json
import os
import plistlib
import shlex
from dataclasses import dataclass

import pytest

from facts.tailscale import TailscaleStatus
from facts.target import TAILSCALE_APP_CLI
from private_ollama.desired_state.layout import MacLayout
from private_ollama.desired_state.settings import Settings


def pytest_collection_modifyitems(config, items):
    if not config.getoption("hosts"):
        skip = pytest.mark.skip(reason="no host given: run with --hosts=ssh://user@mac (see tests/host/conftest.py)")
        for item in items:
            if "tests/host/" in str(item.fspath):
                item.add_marker(skip)


@dataclass(frozen=True)
class Server:
    """What the checks need to know about the host under test."""

    host: object  # testinfra's host
    settings: Settings
    layout: MacLayout
    tailscale_ip: str
    dns_name: str

    def run(self, command: str):
        return self.host.run(command)

    def fact(self, fact_class, *args):
        """Run one of the deploy's own facts on the host and parse it the same way."""
        fact = fact_class()
        result = self.host.run(fact.command(*args))
        return fact.process(result.stdout.splitlines())

    def plist(self, service: str) -> dict:
        return plistlib.loads(self.host.file(self.layout.plist_path(service)).content)

    def curl(self, method: str, path: str, *headers: str, body: str | None = None) -> tuple[int, str]:
        """A request to the proxy from the host itself; (status, body)."""
        url = f"http://{self.tailscale_ip}:{self.settings.proxy_port}{path}"
        key = os.environ.get("PRIVATE_OLLAMA_API_KEY")
        args = [f"-H {shlex.quote(header)}" for header in (*headers, *([f"Authorization: Bearer {key}"] if key else []))]
        if body is not None or method == "POST":
            args.append(f"-H 'Content-Type: application/json' -d {shlex.quote(body or '{}')}")
        how = "-I" if method == "HEAD" else f"-X {method}"  # -X HEAD would wait for a body that never comes
        out = self.run(
            f"curl -sS --path-as-is -m 30 {how} {' '.join(args)} -o /dev/stderr -w '%{{http_code}}' {shlex.quote(url)}",
        )
        return int(out.stdout or 0), out.stderr


@pytest.fixture(scope="module")
def server(host) -> Server:
    settings = Settings.from_data(json.loads(os.environ.get("PRIVATE_OLLAMA_DATA", "{}")))
    uid, user, home = host.run("id -u; id -un; echo $HOME").stdout.split()
    gui = MacLayout(settings.model_copy(update={"service_mode": "agent"}), user, int(uid), home)
    # The mode the host runs in is the one whose launchd domain has the Ollama job.
    mode = "agent" if host.run(f"launchctl print {gui.service_target('ollama')}").rc == 0 else "daemon"
    layout = MacLayout(settings.model_copy(update={"service_mode": mode}), user, int(uid), home)
    cli = TAILSCALE_APP_CLI if host.file(TAILSCALE_APP_CLI).exists else layout.brew_bin("tailscale")
    status = Server(host, layout.settings, layout, "", "").fact(TailscaleStatus, cli)
    assert status["ipv4"], f"Tailscale has no address on this host: {status}"
    return Server(host, layout.settings, layout, status["ipv4"], status["dns_name"])
