"""A lab host's disks: its internal disk, which a test can fill, and external volumes it can attach and detach.

The internal disk is the tmpfs that holds the host's own files (the upper dir
of its root, ``<state>/hosts/<i>/fs``), sized like a Mac's SSD: 1 TB (only what
is written takes memory; the Ollama stand-in's blobs are sparse). ``fill``
shrinks it to what it holds plus 1 MiB: a bigger write fails with ENOSPC, and
``df`` in the host (its / is an overlay whose numbers are this tmpfs's) says
100% used, 1 MiB available; ``empty`` gives it its 1 TB back. Both last until
the other is called, reboots included.

External volumes: ``<state>/hosts/<i>/volumes`` is a small tmpfs shared into
the host as its /Volumes (made at ``up`` by ``make_portal``, root's, mode 755,
as a Mac's /Volumes; boot.py binds it, a slave of the machine's, so mounts made
here show there). Unlike a Mac's, /Volumes is a mount of its own: ``df`` of a
folder under a detached volume names /Volumes, not /. ``attach`` mounts a tmpfs of the
given size at volumes/NAME, owned by admin:staff, mode 755 (as macOS shows an
external disk that ignores ownership): /Volumes/NAME appears in the running
host, and stays across its reboots with its files. ``detach`` unmounts it
(refused while a process uses it, as macOS refuses to eject a busy disk) and
removes the folder: /Volumes/NAME is gone. /Volumes also has ``Macintosh HD``,
a link to /, as on a Mac.

.. code:: python

    attach(paths.host_volumes(1), "Models", "64G")   # /Volumes/Models in lab-mac-1
    fill(paths.host_fs(1))                            # its internal disk has 1 MiB left
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from lab.host.layout import ADMIN_UID, STAFF_GID

DISK_SIZE = "1T"
FULL_SLACK = 1 << 20  # what a full disk still takes: logs go on, a model does not fit
BOOT_VOLUME = "Macintosh HD"


class DiskError(RuntimeError):
    """A disk operation that cannot be done; the message says why."""


def disk_options() -> str:
    """The tmpfs options of a host's internal disk, for ``up``."""
    return f"mode=700,size={DISK_SIZE}"


def fill(fs: Path) -> str:
    """Leave the disk 1 MiB free; what ``df`` will say is available."""
    for _ in range(3):  # what it holds may grow between the look and the remount
        disk = os.statvfs(fs)
        used = (disk.f_blocks - disk.f_bfree) * disk.f_frsize
        if _remount(fs, str(used + FULL_SLACK)).returncode == 0:
            return "1 MiB"
    raise DiskError(f"could not shrink {fs} to what it holds: it keeps growing")


def empty(fs: Path) -> str:
    done = _remount(fs, DISK_SIZE)
    if done.returncode != 0:
        raise DiskError(f"could not give {fs} its size back: {done.stderr.strip()}")
    return DISK_SIZE


def _remount(fs: Path, size: str) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", "-o", f"remount,size={size}", str(fs)], capture_output=True, text=True,
                          check=False)


def make_portal(volumes: Path) -> None:
    """The machine's side of a host's /Volumes: a shared tmpfs of its own, with ``Macintosh HD``."""
    volumes.mkdir(mode=0o755)
    _mount("-t", "tmpfs", "-o", "size=1M,mode=755", "tmpfs", str(volumes))
    _mount("--make-shared", str(volumes))
    (volumes / BOOT_VOLUME).symlink_to("/")


def attach(volumes: Path, name: str, size: str) -> Path:
    """A fresh empty volume ``name`` of ``size`` (tmpfs syntax: 64G, 512M)."""
    target = _volume(volumes, name)
    if target.exists() or target.is_symlink():
        raise DiskError(f"/Volumes/{name} is already there: detach it first")
    target.mkdir(mode=0o755)
    try:
        _mount("-t", "tmpfs", "-o", f"size={size},mode=755,uid={ADMIN_UID},gid={STAFF_GID}", "tmpfs", str(target))
    except DiskError:
        target.rmdir()
        raise
    return target


def detach(volumes: Path, name: str) -> None:
    target = _volume(volumes, name)
    if not os.path.ismount(target):
        raise DiskError(f"no volume {name} is attached (/Volumes/{name} is not a mount)")
    _mount_tool("umount", str(target))
    target.rmdir()


def _volume(volumes: Path, name: str) -> Path:
    if not name or "/" in name or "\0" in name or name in (".", "..", BOOT_VOLUME):
        raise DiskError(f"{name!r} cannot be a volume name (no /, not . or .., not {BOOT_VOLUME})")
    return volumes / name


def _mount(*args: str) -> None:
    _mount_tool("mount", *args)


def _mount_tool(tool: str, *args: str) -> None:
    done = subprocess.run([tool, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DiskError(f"{tool} {' '.join(args)}: {done.stderr.strip()}")
