"""Fixtures for the launchd stand-in tests: a throwaway user, and daemons to test against.

Runs as root on the build machine, without the lab. The user is created once
per session (useradd) and deleted at the end.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.standins.launchd_lab import User, running_lab


@pytest.fixture(scope="session")
def user():
    """A throwaway unprivileged user with a home directory and ~/Library/LaunchAgents."""
    base = Path(tempfile.mkdtemp(prefix="launchd-standin-users-"))
    base.chmod(0o755)
    name = f"lcuser{os.getpid() % 100000}"
    home = base / name
    subprocess.run(["useradd", "--system", "--user-group", "--create-home", "--home-dir", str(home), "--shell", "/bin/sh", name], check=True)
    entry = pwd.getpwnam(name)
    made = User(name, entry.pw_uid, entry.pw_gid, home)
    made.agents.mkdir(parents=True)
    for folder in (home / "Library", made.agents):
        os.chown(folder, made.uid, made.gid)
    yield made
    subprocess.run(["userdel", "--force", name], check=False)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def lab(user):
    """A fresh launchd stand-in for one test."""
    with running_lab(user) as lab:
        yield lab


@pytest.fixture(scope="module")
def idle_lab(user):
    """A daemon shared by tests whose requests fail or only read: nothing loads, nobody logs in."""
    with running_lab(user) as lab:
        yield lab
