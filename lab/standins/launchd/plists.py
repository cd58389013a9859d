"""Reading a job's plist the way launchd does, and refusing what launchd refuses.

Every refusal is launchd's catch-all ``5: Input/output error``: an unreadable
or malformed plist, no Label, no Program/ProgramArguments, wrongly typed keys,
or a file whose owner or mode launchd distrusts (``man launchctl``: agents in
/Library/LaunchAgents owned by root, in ~/Library/LaunchAgents by the user,
daemons by root:wheel; never group- or world-writable).

.. code:: python

    spec = read_job("/Users/admin/Library/LaunchAgents/x.plist", Target("gui/501"), "/Users/admin", Path("/Library"))
    spec.label, spec.program, spec.throttle_interval  # "x", "/opt/homebrew/bin/ollama", 10
"""

from __future__ import annotations

import os
import plistlib
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.parsers.expat import ExpatError

from . import darwin
from .faults import Fault
from .targets import Target

DEFAULT_THROTTLE_S = 10
DEFAULT_EXIT_TIMEOUT_S = 20
LAB_MAX_EXIT_TIMEOUT_S = 5  # the lab never waits longer than this before SIGKILL
KEEPALIVE_CONDITIONS = ("SuccessfulExit", "Crashed")


@dataclass(frozen=True)
class JobSpec:
    label: str
    path: str
    program: str
    arguments: tuple[str, ...]
    inferred_program: bool  # no Program key: ProgramArguments[0] is the program
    environment: dict[str, str] = field(default_factory=dict)
    working_directory: str | None = None
    stdout_path: str | None = None
    stderr_path: str | None = None
    run_at_load: bool = False
    keep_alive: bool | dict[str, bool] = False
    throttle_interval: int = DEFAULT_THROTTLE_S
    exit_timeout: int = LAB_MAX_EXIT_TIMEOUT_S
    user_name: str | None = None
    group_name: str | None = None
    session_types: tuple[str, ...] = ("Aqua",)
    disabled: bool = False  # the plist's own Disabled key; overrides win

    @property
    def starts_at_load(self) -> bool:
        """RunAtLoad, KeepAlive true, or SuccessfulExit (which implies RunAtLoad, per launchd.plist(5))."""
        return self.run_at_load or self.keep_alive is True or (isinstance(self.keep_alive, dict) and "SuccessfulExit" in self.keep_alive)

    def keeps_alive_after(self, exit: darwin.Exit) -> bool:
        """Whether launchd restarts the job after it ended this way."""
        if isinstance(self.keep_alive, bool):
            return self.keep_alive
        crashed = exit.signal in darwin.CRASH_SIGNALS
        wanted = {"SuccessfulExit": exit.clean, "Crashed": crashed}
        return any(self.keep_alive[key] == wanted[key] for key in KEEPALIVE_CONDITIONS if key in self.keep_alive)


def read_job(path: str, target: Target, home: str | None, library: Path) -> JobSpec:
    """The job in the plist at `path` for `target`'s domain; Fault(5) when launchd would refuse it."""
    try:
        status = os.stat(path)
        with open(path, "rb") as handle:
            data = plistlib.load(handle)
    except (OSError, plistlib.InvalidFileException, ValueError, ExpatError):
        raise Fault(darwin.EIO) from None
    if not _ownership_trusted(Path(path), status, target, home, library):
        raise Fault(darwin.EIO)
    if not isinstance(data, dict):
        raise Fault(darwin.EIO)
    try:
        return _job_from(data, path)
    except (TypeError, ValueError):
        raise Fault(darwin.EIO) from None


def _ownership_trusted(path: Path, status: os.stat_result, target: Target, home: str | None, library: Path) -> bool:
    if status.st_mode & (stat.S_IWGRP | stat.S_IWOTH) or not stat.S_ISREG(status.st_mode):
        return False
    if target.kind == "system":
        return status.st_uid == 0 and status.st_gid == 0
    folder = path.resolve().parent
    if home is not None and folder == Path(home, "Library", "LaunchAgents").resolve():
        return status.st_uid == target.uid
    if folder == (library / "LaunchAgents").resolve():
        return status.st_uid == 0
    return status.st_uid in (0, target.uid)


def _job_from(data: dict[str, Any], path: str) -> JobSpec:
    label = _typed(data, "Label", str)
    arguments = _typed(data, "ProgramArguments", list, [])
    program = _typed(data, "Program", str, None)
    if not label or not all(isinstance(arg, str) for arg in arguments) or not (program or arguments):
        raise ValueError("no label or program")
    environment = _typed(data, "EnvironmentVariables", dict, {})
    if not all(isinstance(value, str) for value in environment.values()):
        raise TypeError("EnvironmentVariables values must be strings")
    keep_alive = data.get("KeepAlive", False)
    if not isinstance(keep_alive, (bool, dict)) or (isinstance(keep_alive, dict) and not all(isinstance(v, bool) for v in keep_alive.values())):
        raise TypeError("KeepAlive must be a boolean or a dictionary of booleans")
    session_types = data.get("LimitLoadToSessionType", "Aqua")
    return JobSpec(
        label=label,
        path=path,
        program=program or arguments[0],
        arguments=tuple(arguments or [program]),
        inferred_program=program is None,
        environment=dict(environment),
        working_directory=_typed(data, "WorkingDirectory", str, None),
        stdout_path=_typed(data, "StandardOutPath", str, None),
        stderr_path=_typed(data, "StandardErrorPath", str, None),
        run_at_load=_typed(data, "RunAtLoad", bool, False),
        keep_alive=keep_alive,
        throttle_interval=_typed(data, "ThrottleInterval", int, DEFAULT_THROTTLE_S),
        exit_timeout=min(_typed(data, "ExitTimeOut", int, DEFAULT_EXIT_TIMEOUT_S), LAB_MAX_EXIT_TIMEOUT_S),
        user_name=_typed(data, "UserName", str, None),
        group_name=_typed(data, "GroupName", str, None),
        session_types=tuple([session_types] if isinstance(session_types, str) else session_types),
        disabled=_typed(data, "Disabled", bool, False),
    )


_REQUIRED = object()


def _typed(data: dict[str, Any], key: str, kind: type, default: Any = _REQUIRED) -> Any:
    if key not in data:
        if default is _REQUIRED:
            raise ValueError(f"{key} missing")
        return default
    value = data[key]
    # plistlib gives bool for <true/>, and bool is an int: keep them apart.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)) or (kind is int and value < 0):
        raise TypeError(f"{key} must be {kind.__name__}")
    return value
