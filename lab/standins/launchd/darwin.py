"""Darwin's numbers as launchctl prints them: errno texts, signals, exit statuses.

Linux numbers differ (SIGUSR2 is 12 here, 31 on a Mac; EINPROGRESS is 115
here, 36 there), so everything shown to a caller goes through this table.

.. code:: python

    linux_signal("USR2")            # signal.SIGUSR2, also for "SIGUSR2" and "31"
    Exit(signal=signal.SIGTERM).described()  # "last terminating signal = Terminated: 15"
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

EPERM = 1
ENOENT = 2
ESRCH = 3
EIO = 5
EINPROGRESS = 36
EALREADY = 37
EX_USAGE = 64
EX_CONFIG = 78
SERVICE_NOT_FOUND = 113
SERVICE_DISABLED = 119
DOMAIN_ACTION_UNSUPPORTED = 125

STRERROR = {
    EPERM: "Operation not permitted",
    ENOENT: "No such file or directory",
    ESRCH: "No such process",
    EIO: "Input/output error",
    EINPROGRESS: "Operation now in progress",
    EALREADY: "Operation already in progress",
    SERVICE_NOT_FOUND: "Could not find specified service",
    SERVICE_DISABLED: "Service is disabled",
    DOMAIN_ACTION_UNSUPPORTED: "Domain does not support specified action",
}

# (Darwin number, name without SIG, Darwin's strsignal text)
_SIGNALS = (
    (1, "HUP", "Hangup"),
    (2, "INT", "Interrupt"),
    (3, "QUIT", "Quit"),
    (4, "ILL", "Illegal instruction"),
    (5, "TRAP", "Trace/BPT trap"),
    (6, "ABRT", "Abort trap"),
    (7, "EMT", "EMT trap"),
    (8, "FPE", "Floating point exception"),
    (9, "KILL", "Killed"),
    (10, "BUS", "Bus error"),
    (11, "SEGV", "Segmentation fault"),
    (12, "SYS", "Bad system call"),
    (13, "PIPE", "Broken pipe"),
    (14, "ALRM", "Alarm clock"),
    (15, "TERM", "Terminated"),
    (16, "URG", "Urgent I/O condition"),
    (17, "STOP", "Suspended (signal)"),
    (18, "TSTP", "Suspended"),
    (19, "CONT", "Continued"),
    (20, "CHLD", "Child exited"),
    (21, "TTIN", "Stopped (tty input)"),
    (22, "TTOU", "Stopped (tty output)"),
    (23, "IO", "I/O possible"),
    (24, "XCPU", "Cputime limit exceeded"),
    (25, "XFSZ", "Filesize limit exceeded"),
    (26, "VTALRM", "Virtual timer expired"),
    (27, "PROF", "Profiling timer expired"),
    (28, "WINCH", "Window size changes"),
    (29, "INFO", "Information request"),
    (30, "USR1", "User defined signal 1"),
    (31, "USR2", "User defined signal 2"),
)
# EMT and INFO have no Linux counterpart: they are named but cannot be sent.
_BY_NAME = {name: number for number, name, _ in _SIGNALS}
_TEXT = {number: text for number, _, text in _SIGNALS}
_TO_LINUX = {number: getattr(signal, f"SIG{name}", None) for number, name, _ in _SIGNALS}
_FROM_LINUX = {linux: number for number, linux in _TO_LINUX.items() if linux is not None}

# Signals after which launchd says a job "crashed" (KeepAlive's Crashed key).
CRASH_SIGNALS = frozenset({signal.SIGILL, signal.SIGTRAP, signal.SIGABRT, signal.SIGFPE, signal.SIGBUS, signal.SIGSEGV, signal.SIGSYS})


def linux_signal(spec: str) -> int | None:
    """The Linux signal for a Darwin name (`TERM`, `SIGTERM`) or number (`15`, `-15`), else None."""
    digits = spec.removeprefix("-")
    number = int(digits) if digits.isdigit() else _BY_NAME.get(spec.removeprefix("SIG"))
    return _TO_LINUX.get(number) if number is not None else None


def darwin_signal(linux: int) -> int:
    return _FROM_LINUX.get(linux, linux)


@dataclass(frozen=True)
class Exit:
    """How a job's process ended: an exit code, or the (Linux) signal that killed it."""

    code: int | None = None
    signal: int | None = None

    @classmethod
    def from_wait_status(cls, status: int) -> Exit:
        code = os.waitstatus_to_exitcode(status)
        return cls(signal=-code) if code < 0 else cls(code=code)

    @property
    def clean(self) -> bool:
        return self.code == 0

    def list_status(self) -> int:
        """`launchctl list`'s Status column: the exit code, or minus the Darwin signal number."""
        return -darwin_signal(self.signal) if self.signal is not None else self.code

    def wait_status(self) -> int:
        """The raw wait status that `launchctl list <label>` prints as LastExitStatus."""
        return darwin_signal(self.signal) if self.signal is not None else self.code << 8

    def described(self) -> str:
        """`launchctl print`'s line: a signal replaces the exit-code line."""
        if self.signal is not None:
            number = darwin_signal(self.signal)
            return f"last terminating signal = {_TEXT.get(number, f'Signal {number}')}: {number}"
        suffix = ": EX_CONFIG" if self.code == EX_CONFIG else ""
        return f"last exit code = {self.code}{suffix}"
