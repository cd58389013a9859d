"""Starting a job's process the way launchd does.

The process gets its own session (setsid), the job user's uid, gid and groups,
umask 022, stdin from /dev/null, and stdout/stderr appended to
StandardOutPath/StandardErrorPath (else /dev/null). The log files are opened
and the working directory entered *after* dropping to the job user, as launchd
does, so a log directory the user cannot write, or one that does not exist,
fails the spawn; launchd then records ``78: EX_CONFIG``, and so do we.

Environment (mirrors launchd, see ``job_postfork_become_user`` in Apple's
launchd sources): PATH=/usr/bin:/bin:/usr/sbin:/sbin, XPC_SERVICE_NAME=<label>
and XPC_FLAGS=0x0 for every job; HOME, USER, LOGNAME, SHELL (from the user's
passwd entry) and TMPDIR (a per-user /var/folders/xx/.../T/ directory) only
when the job runs as a named user: every gui/user job, a system job with
UserName or GroupName. A root LaunchDaemon without UserName gets no HOME.
The plist's EnvironmentVariables win over all of these.

.. code:: python

    process = spawn(spec, Target("gui/501"), var_folders=Path("/var/folders"))
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .plists import JobSpec
from .targets import Target

DEFAULT_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"


class SpawnFailed(Exception):
    """launchd could not start the job: it records exit code 78 (EX_CONFIG)."""


@dataclass(frozen=True)
class Identity:
    uid: int
    gid: int
    name: str
    home: str
    shell: str

    @classmethod
    def of(cls, entry: pwd.struct_passwd, gid: int | None = None) -> Identity:
        return cls(entry.pw_uid, entry.pw_gid if gid is None else gid, entry.pw_name, entry.pw_dir, entry.pw_shell)


def job_identity(spec: JobSpec, target: Target) -> Identity | None:
    """Who the job runs as; None for a root daemon that names no user (no user environment)."""
    try:
        if target.kind != "system":
            return Identity.of(pwd.getpwuid(target.uid))
        if spec.user_name is None and spec.group_name is None:
            return None
        gid = grp.getgrnam(spec.group_name).gr_gid if spec.group_name else None
        return Identity.of(pwd.getpwnam(spec.user_name or "root"), gid)
    except KeyError as missing:
        raise SpawnFailed(f"no such user or group: {missing}") from None


def environment(spec: JobSpec, identity: Identity | None, tmpdir: str | None) -> dict[str, str]:
    env = {"PATH": DEFAULT_PATH, "XPC_SERVICE_NAME": spec.label, "XPC_FLAGS": "0x0"}
    if identity is not None:
        env.update(HOME=identity.home, USER=identity.name, LOGNAME=identity.name, SHELL=identity.shell)
    if tmpdir is not None:
        env["TMPDIR"] = tmpdir
    env.update(spec.environment)
    return env


def user_temp_dir(identity: Identity, var_folders: Path) -> str:
    """The user's private TMPDIR, like confstr(_CS_DARWIN_USER_TEMP_DIR): created 0700, owned by the user."""
    digest = hashlib.sha1(str(identity.uid).encode()).hexdigest()
    bucket = var_folders / digest[:2]
    folder = bucket / f"{digest[2:24]}0000gn"
    temp = folder / "T"
    if not temp.is_dir():
        bucket.mkdir(mode=0o755, parents=True, exist_ok=True)
        for path in (folder, temp):
            path.mkdir(mode=0o755 if path is folder else 0o700, exist_ok=True)
            os.chown(path, identity.uid, identity.gid)
    return f"{temp}/"


def spawn(spec: JobSpec, target: Target, var_folders: Path) -> subprocess.Popen:
    """Start the job's process; SpawnFailed when launchd would record EX_CONFIG."""
    identity = job_identity(spec, target)
    tmpdir = user_temp_dir(identity, var_folders) if identity is not None else None
    as_user = identity is not None and os.geteuid() == 0
    try:
        return subprocess.Popen(
            spec.arguments,
            executable=spec.program,
            env=environment(spec, identity, tmpdir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            umask=0o022,
            user=identity.uid if as_user else None,
            group=identity.gid if as_user else None,
            extra_groups=os.getgrouplist(identity.name, identity.gid) if as_user else None,
            preexec_fn=_as_job_user(spec),  # noqa: PLW1509 - launchd's setsid/umask/limits, run before exec
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise SpawnFailed(str(error)) from None


def _as_job_user(spec: JobSpec):
    """Runs in the child after setuid: open the logs and enter the working directory as the job user."""

    def prepare() -> None:
        for fd, path in ((1, spec.stdout_path), (2, spec.stderr_path)):
            if path:
                opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
                os.dup2(opened, fd)
                os.close(opened)
        os.chdir(spec.working_directory or "/")

    return prepare
