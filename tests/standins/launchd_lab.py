"""A launchd stand-in to test against: the daemon on a temporary socket, launchctl as root or as a user.

Used by conftest.py's fixtures and by tests that need a daemon of their own.

.. code:: python

    with running_lab(user) as lab:
        lab.launchctl("bootstrap", "system", str(lab.daemon_plist("x", "exec sleep 60", RunAtLoad=True)))
        parse_print(lab.launchctl("print", "system/x").stdout)["state"]  # "running"
"""

from __future__ import annotations

import os
import plistlib
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

STANDINS = Path(__file__).resolve().parents[2] / "lab" / "standins"
PYTHON = "/usr/bin/python3"  # the lab's interpreter, never the venv
CAPTURES = Path(__file__).resolve().parents[1] / "data" / "captures"  # verbatim macOS outputs, in the repo
ROOT = pwd.getpwuid(0)


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    home: Path

    @property
    def agents(self) -> Path:
        return self.home / "Library" / "LaunchAgents"


def wait_until(predicate: Callable[[], object], timeout: float = 5.0, interval: float = 0.02):
    """Poll until `predicate()` is truthy and return it; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            assert value, f"condition not met within {timeout} s"
            return value
        time.sleep(interval)


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def parse_print(text: str) -> dict[str, object]:
    """Top-level fields of `launchctl print` output, read by the captures' rules.

    One TAB per nesting level; `key = value`; `key = {` opens a block closed by
    a line holding only `}`; inside a block, `KEY => value` rows make a dict
    and bare rows a list.
    """
    lines = text.splitlines()
    assert lines[0].endswith(" = {") and lines[-1] == "}", "not a print block"
    fields: dict[str, object] = {}
    index = 1
    while index < len(lines) - 1:
        line = lines[index]
        index += 1
        if not line:
            continue
        assert line.startswith("\t") and not line.startswith("\t\t"), f"bad indentation: {line!r}"
        key, _, value = line[1:].partition(" = ")
        if value != "{":
            fields[key] = value
            continue
        rows = []
        while lines[index] != "\t}":
            rows.append(lines[index])
            index += 1
        index += 1
        direct = [row[2:] for row in rows if row.startswith("\t\t") and not row.startswith("\t\t\t")]
        pairs = [row.partition(" => ") for row in direct]
        fields[key] = {k: v for k, sep, v in pairs} if direct and all(sep for _, sep, _ in pairs) else direct
    return fields


def capture(name: str) -> str:
    """The verbatim output part of a macOS capture (a missing one fails the test: never a skip)."""
    text = (CAPTURES / name).read_text()
    return text.split("# --- verbatim output below this line ---\n", 1)[1]


class Lab:
    def __init__(self, root: Path, user: User, cli: Path) -> None:
        self.root = root
        self.user = user
        self.cli = cli
        self.socket = root / "launchd.sock"
        self.state = root / "state"
        self.library = root / "Library"
        self.daemon: subprocess.Popen | None = None
        for folder in (self.library / "LaunchDaemons", self.library / "LaunchAgents", self.state):
            folder.mkdir(parents=True)

    def start(self) -> None:
        command = [PYTHON, "-m", "launchd", "--socket", str(self.socket), "--state-dir", str(self.state)]
        command += ["--library", str(self.library), "--var-folders", str(self.root / "var" / "folders")]
        with open(self.root / "launchd.log", "ab") as log:
            self.daemon = subprocess.Popen(command, stderr=log, cwd=STANDINS)  # -m launchd: the stand-ins are its root
        wait_until(lambda: self.socket.exists() or self.daemon.poll() is not None)
        assert self.daemon.poll() is None, (self.root / "launchd.log").read_text()

    def stop(self) -> None:
        """SIGTERM the daemon, as the lab does at shutdown; it stops its jobs first."""
        self.daemon.send_signal(signal.SIGTERM)
        self.daemon.wait(timeout=15)

    def restart(self) -> None:
        self.stop()
        self.start()

    def launchctl(self, *arguments: str, as_user: bool = False, cwd: Path | None = None) -> subprocess.CompletedProcess:
        command = [str(self.cli), *arguments]
        if as_user:
            command = ["setpriv", f"--reuid={self.user.uid}", f"--regid={self.user.gid}", "--init-groups", *command]
        env = {"PATH": "/usr/bin:/bin", "LAUNCHD_STANDIN_SOCKET": str(self.socket)}
        return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd or self.root, timeout=30,
                              check=False)

    def write_plist(self, path: Path, owner: User | None = None, mode: int = 0o644, binary: bool = False, **keys) -> Path:
        owner = owner or User(ROOT.pw_name, 0, 0, Path("/root"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(plistlib.dumps(keys, fmt=plistlib.FMT_BINARY if binary else plistlib.FMT_XML))
        os.chown(path, owner.uid, owner.gid)
        os.chmod(path, mode)
        return path

    def daemon_plist(self, label: str, script: str, **keys) -> Path:
        """A LaunchDaemon plist (root:wheel, 0644) whose job runs `script` under /bin/sh."""
        return self.write_plist(self.library / "LaunchDaemons" / f"{label}.plist", Label=label, ProgramArguments=["/bin/sh", "-c", script], **keys)

    def agent_plist(self, label: str, script: str, **keys) -> Path:
        """A LaunchAgent plist in the user's ~/Library/LaunchAgents, owned by the user."""
        return self.write_plist(self.user.agents / f"{label}.plist", owner=self.user, Label=label, ProgramArguments=["/bin/sh", "-c", script], **keys)

    def login(self) -> None:
        """Give the user a GUI session; returns once the daemon has loaded their LaunchAgents."""
        (self.state / "gui-sessions").write_text(f"{self.user.uid}\n")
        self.launchctl("managername")  # every request re-reads the sessions file

    def logout(self) -> None:
        (self.state / "gui-sessions").write_text("")
        self.launchctl("managername")

    def fields(self, target: str) -> dict[str, object]:
        result = self.launchctl("print", target)
        assert result.returncode == 0, result.stderr
        return parse_print(result.stdout)

    def pid(self, target: str) -> int | None:
        result = self.launchctl("print", target)
        value = parse_print(result.stdout).get("pid") if result.returncode == 0 else None
        return int(value) if value else None


@contextmanager
def running_lab(user: User) -> Iterator[Lab]:
    """A running launchd stand-in with empty state; stopped (all jobs with it) and removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="launchd-standin-"))
    root.chmod(0o755)  # the unprivileged user reaches the socket and the CLI through it
    for item in user.agents.iterdir():
        item.unlink()
    cli = root / "launchctl"
    shutil.copy(STANDINS / "launchctl", cli)  # the CLI works copied anywhere, as /bin/launchctl in the lab
    lab = Lab(root, user, cli)
    lab.start()
    try:
        yield lab
    finally:
        if lab.daemon.poll() is None:
            lab.stop()
        shutil.rmtree(root, ignore_errors=True)
