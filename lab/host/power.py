"""Power a lab host on and off: its init (boot.py) in fresh mount, pid, UTS and IPC namespaces.

The process labctl starts is `unshare`, which stays in the machine's pid
namespace as the parent of the host's pid 1 (``--kill-child``: if it dies, the
whole host dies). Its pid is kept in ``hosts/<i>/pid``. A host's processes all
live in its pid namespace, so killing its pid 1 kills every one of them. Its
mounts are slaves of the machine's: nothing it mounts is seen outside, and what
the machine mounts in a shared folder (its /Volumes, lab/host/disks.py) shows
inside.

.. code:: python

    power_on(paths, host, auto_login=True)
    wait_until_booted(paths, host)
    power_off(paths, host)  # graceful: launchd stops its jobs first
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from lab.host.layout import HostPlan, LabPaths

BOOT = Path(__file__).resolve().parent / "boot.py"
BOOT_TIMEOUT_S = 15
STOP_TIMEOUT_S = 12  # boot.py gives launchd 7 s, then 2 s per signal


class PowerError(RuntimeError):
    """A host did not boot or stop in time."""


def power_on(paths: LabPaths, host: HostPlan, auto_login: bool) -> None:
    argv = [
        "nsenter", f"--net=/run/netns/{host.netns}", "--",
        "unshare", "--mount", "--uts", "--ipc", "--pid", "--fork", "--kill-child", "--propagation", "slave", "--",
        "/usr/bin/python3", str(BOOT), "--name", host.name, "--fs", str(paths.host_fs(host.index)),
        "--root", str(paths.host_root(host.index)), "--control", str(paths.control),
        "--volumes", str(paths.host_volumes(host.index)),
        "--auto-login" if auto_login else "--no-auto-login",
    ]  # fmt: skip
    with open(paths.host_log(host.index), "ab") as log:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    paths.host_pid(host.index).write_text(f"{process.pid}\n")


def alive(pid: int) -> bool:
    """Running, not a zombie (the machine's init reaps orphans in its own time)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def unshare_pid(paths: LabPaths, host: HostPlan) -> int | None:
    """The pid of the host's `unshare`, while it runs (and is this host's, not a reused pid)."""
    try:
        pid = int(paths.host_pid(host.index).read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ValueError):
        return None
    # An empty command line: nsenter is exec-ing unshare right now.
    ours = not cmdline or str(paths.host_fs(host.index)).encode() in cmdline
    return pid if ours and alive(pid) else None


def init_pid(paths: LabPaths, host: HostPlan) -> int | None:
    """The host's pid 1, as the machine numbers it."""
    parent = unshare_pid(paths, host)
    if parent is None:
        return None
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return int(children[0]) if children else None


def host_path(paths: LabPaths, host: HostPlan, path: str) -> Path:
    """A path inside the running host's root, reachable from the machine through /proc."""
    pid = init_pid(paths, host)
    if pid is None:
        raise PowerError(f"{host.name} is not running")
    return Path(f"/proc/{pid}/root") / path.lstrip("/")


def wait_until_booted(paths: LabPaths, host: HostPlan) -> None:
    """Until boot.py has finished and sshd answers with its banner."""
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    while not (_booted(paths, host) and _sshd_answers(host)):
        if unshare_pid(paths, host) is None:
            raise PowerError(f"{host.name} stopped while booting: see {paths.host_log(host.index)}")
        if time.monotonic() > deadline:
            raise PowerError(f"{host.name} did not boot within {BOOT_TIMEOUT_S} s: see {paths.host_log(host.index)}")
        time.sleep(0.05)


def power_off(paths: LabPaths, host: HostPlan, graceful: bool = True) -> None:
    """Stop every process of the host; its files (the upper dir) and network stay."""
    parent = unshare_pid(paths, host)
    if parent is None:
        return
    pid = init_pid(paths, host)
    os.kill(pid or parent, signal.SIGTERM if graceful and pid else signal.SIGKILL)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while unshare_pid(paths, host) is not None:
        if time.monotonic() > deadline:
            os.kill(parent, signal.SIGKILL)  # --kill-child takes the host's pid 1 with it
            deadline = time.monotonic() + STOP_TIMEOUT_S
        time.sleep(0.05)


def _booted(paths: LabPaths, host: HostPlan) -> bool:
    try:
        return host_path(paths, host, "/run/lab-booted").exists()
    except (PowerError, OSError):
        return False


def _sshd_answers(host: HostPlan) -> bool:
    try:
        with socket.create_connection((host.ssh_ip, 22), timeout=1) as connection:
            return connection.recv(8).startswith(b"SSH-")
    except OSError:
        return False
