"""A lab host's init: pid 1 of its namespaces. Mounts its root, starts its daemons, reaps.

`labctl` runs it inside the host's network namespace through
``unshare --mount --uts --ipc --pid --fork``. It mounts the overlay root (the
machine's / under the host's own upper dir) with fresh /proc, /sys, /dev, /run
and /tmp and the host's /Volumes (lab/host/disks.py), pivots into it, and boots
like a Mac: tailscale0 down and bare (no Tailscale address before tailscaled
logs in), launchd (which loads /Library/LaunchDaemons), sshd, the registry
stand-in of registry.ollama.ai (lab/host/registry.py), then the GUI login of
uid 501 when auto-login is on (launchd then loads that user's LaunchAgents).
SIGTERM shuts it down: launchd first (it stops its jobs), then every other
process.

    /usr/bin/python3 lab/host/boot.py --name lab-mac-1 --fs .lab/hosts/1/fs \\
        --root .lab/hosts/1/root --control .lab/control --volumes .lab/hosts/1/volumes --auto-login
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

# The lab is imported from the project's root, as labctl does (before the pivot hides the checkout).
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from lab.host import registry

STANDINS = "/usr/libexec/lab-standins"  # the stand-ins' code, the import root of the launchd stand-in
LAUNCHD = ["/usr/bin/python3", "-m", "launchd"]
LAUNCHD_SOCKET = Path("/var/run/launchd-standin.sock")
LAUNCHD_STATE = Path("/var/db/launchd-standin")
SSHD = ["/usr/sbin/sshd", "-D", "-e", "-f", "/etc/ssh/sshd_config"]
AUTO_LOGIN_UID = 501
BOOTED = Path("/run/lab-booted")  # labctl waits for this
START_TIMEOUT_S = 10
LAUNCHD_STOP_S = 7  # launchd's own job ExitTimeOut is 5 s
KILL_GRACE_S = 2
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")


class Shutdown(Exception):
    """SIGTERM arrived: stop everything and exit."""


def main() -> int:
    parser = argparse.ArgumentParser(description="pid 1 of a lab host")
    parser.add_argument("--name", required=True)
    parser.add_argument("--fs", type=Path, required=True, help="holds the overlay's upper/ and work/")
    parser.add_argument("--root", type=Path, required=True, help="where to mount the merged root")
    parser.add_argument("--control", type=Path, required=True, help="the lab tailnet's control dir")
    parser.add_argument("--volumes", type=Path, required=True, help="the host's /Volumes, shared by the machine")
    parser.add_argument("--auto-login", action=argparse.BooleanOptionalAction, default=True)
    options = parser.parse_args()

    def on_sigterm(signum, frame):
        raise Shutdown

    signal.signal(signal.SIGTERM, on_sigterm)
    launchd = None
    try:
        socket.sethostname(options.name)
        mount_root(options.fs, options.root, options.control, options.volumes)
        launchd = boot(options.auto_login)
        log(f"{options.name} booted")
        while True:
            if reap_one() == -1:
                time.sleep(1)  # no children now; orphans of `labctl exec` may come
    except Shutdown:
        shutdown(launchd)
    return 0


def mount_root(fs: Path, root: Path, control: Path, volumes: Path) -> None:
    run("mount", "-t", "overlay", "overlay", "-o", f"lowerdir=/,upperdir={fs}/upper,workdir={fs}/work", str(root))
    run("mount", "-t", "proc", "proc", f"{root}/proc")
    run("mount", "-t", "sysfs", "sysfs", f"{root}/sys")  # this network namespace's interfaces
    run("mount", "-t", "tmpfs", "-o", "mode=755,nosuid", "tmpfs", f"{root}/dev")
    for device in DEVICES:
        (root / "dev" / device).touch()
        run("mount", "--bind", f"/dev/{device}", f"{root}/dev/{device}")
    for directory in ("pts", "shm"):
        (root / "dev" / directory).mkdir()
    run("mount", "-t", "devpts", "-o", "newinstance,ptmxmode=0666,mode=620,gid=5", "devpts", f"{root}/dev/pts")
    run("mount", "-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", f"{root}/dev/shm")
    os.symlink("pts/ptmx", root / "dev" / "ptmx")
    os.symlink("/proc/self/fd", root / "dev" / "fd")
    for number, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{number}", root / "dev" / name)
    run("mount", "-t", "tmpfs", "-o", "mode=755,nosuid,nodev", "tmpfs", f"{root}/run")  # /var/run: a symlink
    run("mount", "-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", f"{root}/tmp")  # cleared at boot, as macOS
    run("mount", "--bind", str(control), f"{root}/var/lib/lab/control")
    run("mount", "--rbind", str(volumes), f"{root}/Volumes")  # slaves of the machine's: volumes come and go
    os.chdir(root)
    run("pivot_root", ".", ".")
    run("umount", "-l", ".")  # the machine's root, stacked on top by pivot_root
    os.chdir("/")


def boot(auto_login: bool) -> subprocess.Popen:
    # No Tailscale address before tailscaled logs in, even if the last boot ended in a kill.
    run("ip", "addr", "flush", "dev", "tailscale0")
    run("ip", "link", "set", "tailscale0", "down")
    Path("/run/sshd").mkdir(mode=0o755)
    LAUNCHD_STATE.mkdir(parents=True, exist_ok=True)
    sessions = LAUNCHD_STATE / "gui-sessions"
    sessions.write_text("")  # nobody is logged in at boot
    launchd = spawn([*LAUNCHD, "--socket", str(LAUNCHD_SOCKET), "--state-dir", str(LAUNCHD_STATE)], "launchd-standin",
                    cwd=STANDINS)
    spawn(SSHD, "sshd")
    spawn(registry.command(STANDINS), registry.LOG, cwd=STANDINS)
    wait_for(LAUNCHD_SOCKET.exists, "launchd's socket")
    wait_for(Path(registry.STATE).exists, "the registry stand-in")
    if auto_login:
        sessions.write_text(f"{AUTO_LOGIN_UID}\n")  # loginwindow's auto-login
    BOOTED.touch()
    return launchd


def shutdown(launchd: subprocess.Popen | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if launchd is not None and launchd.poll() is None:
        launchd.terminate()
        try:
            launchd.wait(LAUNCHD_STOP_S)
        except subprocess.TimeoutExpired:
            log("launchd did not stop in time")
    for signum in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(-1, signum)  # every process of this pid namespace but pid 1
        except ProcessLookupError:
            break
        deadline = time.monotonic() + KILL_GRACE_S
        while time.monotonic() < deadline and reap_one(block=False) != -1:
            time.sleep(0.02)
    subprocess.run(["ip", "addr", "flush", "dev", "tailscale0"], check=False)
    log("shut down")


def reap_one(block: bool = True) -> int:
    """Reap a child; 0 when none has exited yet, -1 when there are none left."""
    try:
        pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
    except ChildProcessError:
        return -1
    if pid:
        log(f"reaped pid {pid} (status {status})")
    return pid


def spawn(argv: list[str], name: str, cwd: str = "/") -> subprocess.Popen:
    with open(f"/var/log/{name}.log", "ab") as output:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=output, stderr=output, start_new_session=True,
                                cwd=cwd)


def wait_for(ready, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        if time.monotonic() > deadline:
            raise SystemExit(f"boot: {what} did not appear within {START_TIMEOUT_S} s (see the host's /var/log)")
        time.sleep(0.02)


def run(*argv: str) -> None:
    subprocess.run(argv, check=True)


def log(message: str) -> None:
    print(f"boot: {message}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
