"""The host's private root: the machine's / under an overlay whose upper dir is the host's own.

`provision` fills the empty upper dir before the first boot with what makes the
host a Mac for the deploy: the user admin (uid 501, group staff gid 20, in the
admin group, passwordless sudo), /Users, /Library, /Applications, /Volumes, the
macOS version, Homebrew's prefix with `brew`, sshd's config and keys, the
stand-ins ahead of the real tools, and registry.ollama.ai (its name in
/etc/hosts, its certificate, the lab CA in the CA bundle: lab/host/registry.py).
Nothing lands in the machine's own paths.

.. code:: python

    provision(paths.host_upper(1), plan.hosts[0], standins_dir(), admin_key=pubkey, host_key=paths.host_key(1),
              certificates=Certificates(paths.registry_tls), hidden=hidden_paths((PROJECT, paths.root)))
"""

from __future__ import annotations

import json
import os
import plistlib
import shutil
import stat
import string
from pathlib import Path

from lab.host import registry
from lab.host.layout import ADMIN_UID, ADMIN_USER, STAFF_GID, HostPlan
from lab.host.tls import Certificates

HERE = Path(__file__).resolve().parent
STANDINS = "/usr/libexec/lab-standins"  # the stand-ins' code, inside the host
TOOLS = ("launchctl", "sw_vers", "uname", "stat")  # put at /usr/bin/<tool> (also /bin: a symlink on Debian)
HOMEBREW = "/opt/homebrew"
HOMEBREW_DIRS = ("bin", "sbin", "Cellar", "Caskroom", "opt", "etc", "lib", "include", "share", "var", "var/log")
WHEEL_GID = 0
ADMIN_GID = 80  # macOS's admin group: its members may sudo and change Tailscale's prefs
MACOS = {"ProductName": "macOS", "ProductVersion": "15.7.7", "ProductBuildVersion": "24G720"}
MAC_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"


def provision(
    upper: Path, host: HostPlan, standins: Path, admin_key: str, host_key: Path, certificates: Certificates,
    hidden: list[Path] = (),
) -> None:
    """`hidden`: machine paths the host must not see (the project, the lab's state), from `hidden_paths`."""
    fs = _Upper(upper)
    _hide_machine(fs, hidden)
    _accounts(fs)
    _system(fs, host, host_key)
    _registry(fs, certificates)
    _mac_folders(fs, admin_key)
    _standins(fs, standins)
    fs.put("/var/lib/lab/host.json", json.dumps({"index": host.index, "name": host.name}) + "\n")
    fs.mkdir("/var/lib/lab/control", 0o700)  # the lab tailnet's control dir, bind-mounted at boot


EMPTIED = (("/root", 0o700), ("/home", 0o755), ("/usr/local/bin", 0o755))  # shown empty, not merged
CLEARED_AT_BOOT = ("/tmp", "/run", "/dev")  # fresh mounts in every host
# What the host runs on or provisioning writes: never under a whiteout.
NEEDED = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc", "/var/lib/lab", "/var/db", "/proc", "/sys",
          HOMEBREW, "/Users", "/Library", "/Applications", "/System", *(folder for folder, _ in EMPTIED))


def _hide_machine(fs: _Upper, hidden: list[Path]) -> None:
    """The machine's homes and its own tools are not on the Mac, nor are the `hidden` paths."""
    for folder, mode in EMPTIED:
        fs.mkdir(folder, mode)
        os.setxattr(fs.upper / folder.lstrip("/"), "trusted.overlay.opaque", b"y")
    for path in hidden:
        fs.whiteout(str(path))


def hidden_paths(paths: tuple[Path, ...]) -> list[Path]:
    """The paths that need a whiteout: resolved, outermost only, none the host already does without.
    A path holding something the host needs cannot be hidden: ValueError, with what to do.

    >>> [str(p) for p in hidden_paths((Path("/check/work/main"), Path("/check/work/main/.lab"), Path("/root/x")))]
    ['/check/work/main']
    """
    already = [Path(folder) for folder, _ in EMPTIED] + [Path(folder) for folder in CLEARED_AT_BOOT]
    chosen: list[Path] = []
    for path in sorted({Path(p).resolve() for p in paths}, key=lambda p: (len(p.parts), str(p))):
        if any(path.is_relative_to(outer) for outer in already + chosen):
            continue
        needed = next((Path(need) for need in ("/", *NEEDED) if Path(need).is_relative_to(path)), None)
        if needed is not None:
            raise ValueError(
                f"the lab host cannot hide {path} (the checkout or the lab's state dir): it needs {needed}. "
                "Put the checkout elsewhere, or point PRIVATE_OLLAMA_LAB_DIR at a dir of its own (e.g. /srv/lab)"
            )
        chosen.append(path)
    return chosen


def _accounts(fs: _Upper) -> None:
    passwd = Path("/etc/passwd").read_text()
    fs.put("/etc/passwd", passwd + f"{ADMIN_USER}:x:{ADMIN_UID}:{STAFF_GID}:Admin:/Users/{ADMIN_USER}:/bin/sh\n")
    fs.put("/etc/group", mac_groups(Path("/etc/group").read_text()))
    shadow = Path("/etc/shadow").read_text()
    fs.put("/etc/shadow", shadow + f"{ADMIN_USER}:*:19000:0:99999:7:::\n", 0o640, gid=Path("/etc/shadow").stat().st_gid)
    fs.put("/etc/sudoers", (HERE / "sudoers").read_text(), 0o440)
    fs.put(f"/etc/sudoers.d/lab-{ADMIN_USER}", f"{ADMIN_USER}\tALL = (ALL) NOPASSWD: ALL\n", 0o440)
    fs.put("/etc/environment", f'PATH="{MAC_PATH}"\n')  # read by pam_env for SSH sessions


def mac_groups(group: str) -> str:
    """Debian's /etc/group with macOS's numbers: wheel 0, staff 20, admin 80.

    >>> mac_groups("root:x:0:\\ndialout:x:20:\\nstaff:x:50:\\n").splitlines()
    ['wheel:x:0:root', 'root:x:0:', 'debian-staff:x:50:', 'staff:x:20:', 'admin:x:80:admin']
    """
    lines = []
    for line in group.splitlines():
        name, password, gid, members = line.split(":")
        if gid in (str(STAFF_GID), str(ADMIN_GID)):
            continue  # Debian's dialout: macOS's staff takes gid 20
        lines.append(":".join(("debian-staff" if name == "staff" else name, password, gid, members)))
    # First in the file, so gid 0 reads as wheel as on macOS; root stays an alias.
    return "\n".join([f"wheel:x:{WHEEL_GID}:root", *lines, f"staff:x:{STAFF_GID}:", f"admin:x:{ADMIN_GID}:{ADMIN_USER}"]) + "\n"


def _system(fs: _Upper, host: HostPlan, host_key: Path) -> None:
    fs.put("/etc/hostname", host.name + "\n")
    fs.put("/etc/hosts", f"127.0.0.1\tlocalhost {host.name}\n255.255.255.255\tbroadcasthost\n::1\tlocalhost\n"
                         + registry.HOSTS_LINE)
    fs.put("/etc/motd", "")
    config = string.Template((HERE / "sshd_config").read_text()).substitute(listen_address=host.ssh_ip)
    fs.put("/etc/ssh/sshd_config", config)
    fs.put("/etc/ssh/ssh_host_ed25519_key", host_key.read_text(), 0o600)
    fs.put("/etc/ssh/ssh_host_ed25519_key.pub", host_key.with_suffix(".pub").read_text())
    version = plistlib.dumps({**MACOS, "ProductUserVisibleVersion": MACOS["ProductVersion"]})
    fs.put("/System/Library/CoreServices/SystemVersion.plist", version)
    fs.mkdir("/var/db/launchd-standin", 0o755)


def _registry(fs: _Upper, certificates: Certificates) -> None:
    """What the registry stand-in serves with, and the trust that makes its certificate good in the host."""
    fs.put(registry.CERT, certificates.cert.read_bytes())
    fs.put(registry.KEY, certificates.key.read_bytes(), 0o600)
    bundle = Path(registry.CA_BUNDLE)
    fs.put(registry.CA_BUNDLE, (bundle.read_bytes() if bundle.is_file() else b"") + certificates.ca.read_bytes())


def _mac_folders(fs: _Upper, admin_key: str) -> None:
    for folder in ("/Library", "/Library/LaunchDaemons", "/Library/LaunchAgents", "/Library/Preferences", "/Volumes"):
        fs.mkdir(folder, 0o755, gid=WHEEL_GID)
    fs.mkdir("/Library/Logs", 0o775, gid=ADMIN_GID)
    fs.mkdir("/Applications", 0o775, gid=ADMIN_GID)
    fs.mkdir("/Users", 0o755, gid=ADMIN_GID)
    home = f"/Users/{ADMIN_USER}"
    admin = {"uid": ADMIN_UID, "gid": STAFF_GID}
    fs.mkdir(home, 0o750, **admin)
    fs.mkdir(f"{home}/Library", 0o700, **admin)
    fs.mkdir(f"{home}/.ssh", 0o700, **admin)
    fs.put(f"{home}/.ssh/authorized_keys", admin_key, 0o600, **admin)
    brew_owner = {"uid": ADMIN_UID, "gid": ADMIN_GID}  # as the Homebrew installer leaves it
    fs.mkdir(HOMEBREW, 0o755, **brew_owner)
    for folder in HOMEBREW_DIRS:
        fs.mkdir(f"{HOMEBREW}/{folder}", 0o755, **brew_owner)


def _standins(fs: _Upper, standins: Path) -> None:
    code = fs.upper / STANDINS.lstrip("/")
    fs.mkdir(STANDINS, 0o755)
    shutil.copytree(standins, code, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (code / "real").mkdir()
    shutil.copy2("/usr/bin/uname", code / "real" / "uname")  # what the uname stand-in delegates to
    for tool in TOOLS:
        fs.symlink(f"/usr/bin/{tool}", f"{STANDINS}/{tool}")
    fs.put(f"{HOMEBREW}/bin/brew", (standins / "brew").read_bytes(), 0o755, uid=ADMIN_UID, gid=ADMIN_GID)


class _Upper:
    """Writes into the overlay's upper dir; directories that the machine's / also has
    keep its mode and owner there, so the merged view looks like the machine's."""

    def __init__(self, upper: Path) -> None:
        self.upper = upper

    def mkdir(self, path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> Path:
        self._parents(path)
        target = self.upper / path.lstrip("/")
        target.mkdir(exist_ok=True)
        os.chmod(target, mode)
        os.chown(target, uid, gid)
        return target

    def put(self, path: str, content: str | bytes, mode: int = 0o644, uid: int = 0, gid: int = 0) -> None:
        self._parents(path)
        target = self.upper / path.lstrip("/")
        target.write_bytes(content.encode() if isinstance(content, str) else content)
        os.chmod(target, mode)
        os.chown(target, uid, gid)

    def whiteout(self, path: str) -> None:
        """Hides the machine's `path` in the merged view (an overlay whiteout: a 0/0 char device)."""
        self._parents(path)
        os.mknod(self.upper / path.lstrip("/"), stat.S_IFCHR | 0o600, os.makedev(0, 0))

    def symlink(self, path: str, points_to: str) -> None:
        self._parents(path)
        (self.upper / path.lstrip("/")).symlink_to(points_to)

    def _parents(self, path: str) -> None:
        current = Path("/")
        for part in Path(path).parent.parts[1:]:
            current /= part
            target = self.upper / current.relative_to("/")
            if target.exists():
                continue
            if current.is_symlink():
                raise ValueError(f"{current} is a symlink on this machine: write under its target instead")
            target.mkdir()
            if current.is_dir():  # the machine has it: same mode and owner in the merged view
                info = current.stat()
                os.chmod(target, stat.S_IMODE(info.st_mode))
                os.chown(target, info.st_uid, info.st_gid)
