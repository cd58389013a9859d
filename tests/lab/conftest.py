"""End-to-end tests on a lab started for the test session (needs root).

The lab is started in build/lab-test (not .lab, which `make lab` uses) and
removed at the end. Every deploy here is the real `pyinfra lab/inventory.py
deploy.py` over real SSH, exactly as `make lab` runs it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LABCTL = str(ROOT / "lab" / "labctl")


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> dict:
        return json.loads(self.stdout)


@dataclass
class Lab:
    """A running lab, and the commands the tests drive it with."""

    state_dir: Path
    info: dict
    authkey: str
    outputs: list[str] = field(default_factory=list)  # everything any command printed

    @property
    def host(self) -> dict:
        return self.info["hosts"][0]

    def _run(self, argv: list[str], env: dict | None = None, timeout: int = 300) -> Run:
        # The auth key reaches a command only when a test passes it.
        inherited = {
            name: value for name, value in os.environ.items()
            if name not in ("TAILSCALE_AUTHKEY", "PRIVATE_OLLAMA_LAB_SLOT")
        }
        full_env = {**inherited, "PRIVATE_OLLAMA_LAB_DIR": str(self.state_dir), **(env or {})}
        done = subprocess.run(argv, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout, check=False)
        self.outputs.append(done.stdout + done.stderr)
        return Run(done.returncode, done.stdout, done.stderr)

    def pyinfra(self, deploy: str = "deploy.py", *args: str, key: bool = True, inventory: str = "lab/inventory.py") -> Run:
        env = {"TAILSCALE_AUTHKEY": self.authkey} if key else {}
        return self._run([sys.executable, "-m", "pyinfra", "-y", inventory, deploy, *args], env)

    def deploy(self, *args: str, key: bool = True, inventory: str = "lab/inventory.py") -> Run:
        return self.pyinfra("deploy.py", *args, key=key, inventory=inventory)

    def apply_json(self, *args: str) -> dict:
        """Apply and return pyinfra's JSON results; fails the test if the apply failed."""
        run = self.deploy("--json", *args)
        assert run.rc == 0, run.output[-3000:]
        return run.json()["results"]

    def drift(self, *args: str, inventory: str = "lab/inventory.py") -> Run:
        """``make drift``: exit 0 converged, 2 drifted; ``args`` are its ``--data KEY=VALUE`` flags."""
        return self._run([sys.executable, "-m", "private_ollama", "drift", "--inventory", inventory, *args])

    def sh(self, command: str) -> Run:
        """A shell command on the lab Mac, as root (for drift and faults)."""
        return self._run([LABCTL, "exec", "--", "sh", "-c", command])

    def ssh(self, command: str) -> Run:
        """A shell command on the lab Mac as the admin user, over SSH, as a person would."""
        return self._run(["ssh", "-F", self.info["ssh_config"], self.host["name"], command])

    def client(self, *argv: str) -> Run:
        """A command in the tailnet client namespace."""
        return self._run([LABCTL, "client", "--", *argv])

    def labctl(self, *argv: str) -> Run:
        return self._run([LABCTL, *argv])

    def curl(self, method: str, path: str, host: str | None = None, body: str | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, str]:
        """A request from the tailnet client to the lab Mac's proxy; (status, body), status 0 when refused."""
        target = host or self.host["tailscale_ip"]
        data = ["-H", "Content-Type: application/json", "-d", body or "{}"] if body or method == "POST" else []
        data += [argument for name, value in (headers or {}).items() for argument in ("-H", f"{name}: {value}")]
        run = self.client(
            "curl", "-sS", "--path-as-is", "-m", "10", "-X", method, "-o", "/dev/stdout", "-w", "\n%{http_code}",
            *data, f"http://{target}:11434{path}",
        )
        body, _, status = run.stdout.rpartition("\n")
        return int(status or 0), body

    def wait(self, condition, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.25)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def changed(results: dict) -> list[str]:
    """Names of the operations an apply changed."""
    return [op["name"].split(" | ")[-1] for op in results["operations"] if op["success"]]


def started_lab(name: str, hosts: int = 1) -> Iterator[Lab]:
    """`lab/labctl up --hosts N` in build/<name> (not .lab, which `make lab` uses) until the generator ends."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (network and mount namespaces)")
    if not shutil.which("haproxy") or not shutil.which("sshd"):
        pytest.skip("the lab needs haproxy and openssh-server (make deps)")
    state_dir = ROOT / "build" / name
    env = {**os.environ, "PRIVATE_OLLAMA_LAB_DIR": str(state_dir)}
    env.pop("PRIVATE_OLLAMA_LAB_SLOT", None)  # any free slot: `make lab` may hold slot 0
    subprocess.run([LABCTL, "down"], env=env, capture_output=True, check=False, timeout=120)
    up = subprocess.run([LABCTL, "up", "--hosts", str(hosts)], env=env, capture_output=True, text=True, check=False,
                        timeout=300)
    if up.returncode != 0:
        pytest.fail(f"lab/labctl up failed:\n{up.stdout}{up.stderr}")
    info = json.loads((state_dir / "lab.json").read_text())
    lab = Lab(state_dir, info, Path(info["authkey_file"]).read_text().strip())
    lab.outputs.append(up.stdout + up.stderr)
    try:
        yield lab
    finally:
        subprocess.run([LABCTL, "down"], env=env, capture_output=True, check=False, timeout=120)


@pytest.fixture(scope="module")
def lab():
    yield from started_lab("lab-test")
