"""A loaded job and its process: start, exit, KeepAlive restarts, stop.

Restarts follow KeepAlive and never come sooner than ThrottleInterval after
the previous start (launchd's "minimum runtime"), so a failing job cannot
spin. Stopping (bootout, logout, shutdown) sends SIGTERM and, after
ExitTimeOut (at most 5 s in the lab), SIGKILL to the job's process group; the
job stays loaded, "in progress", until its process is gone. When a job's
process exits, whatever is left of its process group is killed, as launchd
does unless AbandonProcessGroup is set.

.. code:: python

    job = Job(spec, target, processes, clock, var_folders)
    job.load()        # starts it when RunAtLoad / KeepAlive say so
    job.unload(done)  # SIGTERM now; done() once it has exited
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from .darwin import EX_CONFIG, Exit
from .plists import JobSpec
from .spawn import SpawnFailed, spawn
from .targets import Target


class Clock(Protocol):
    def now(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Callable[[], None]:
        """Run `callback` after `delay` seconds; returns a function that cancels it."""


class Job:
    def __init__(self, spec: JobSpec, target: Target, processes: dict[int, Job], clock: Clock, var_folders: Path) -> None:
        self.spec = spec
        self.target = target.service(spec.label)
        self._processes = processes  # pid -> job, shared by all jobs, read by the reaper
        self._clock = clock
        self._var_folders = var_folders
        self.process: subprocess.Popen | None = None
        self.runs = 0
        self.last_exit: Exit | None = None
        self.unloading = False
        self._last_start = float("-inf")
        self._cancel_restart: Callable[[], None] | None = None
        self._cancel_kill: Callable[[], None] | None = None
        self._after_exit: list[Callable[[], None]] = []

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        return self.process is not None

    def load(self) -> None:
        if self.spec.starts_at_load:
            self.start()

    def start(self) -> None:
        """Spawn now; a failed spawn counts as a run that exited 78, as in launchd."""
        self._cancel(restart=True)
        self.runs += 1
        self._last_start = self._clock.now()
        try:
            self.process = spawn(self.spec, self.target, self._var_folders)
        except SpawnFailed as why:
            print(f"launchd: {self.target}: spawn failed: {why}", file=sys.stderr, flush=True)
            self._ended(Exit(code=EX_CONFIG))
            return
        self._processes[self.process.pid] = self

    def reaped(self, wait_status: int) -> None:
        """The supervisor reaped our process."""
        process, self.process = self.process, None
        del self._processes[process.pid]
        process.returncode = os.waitstatus_to_exitcode(wait_status)  # keeps Popen from reaping again
        _kill_group(process.pid, signal.SIGKILL)
        self._cancel(kill=True)
        self._ended(Exit.from_wait_status(wait_status))

    def restart(self, started: Callable[[], None]) -> None:
        """kickstart -k: stop the running process, start a new one at once, then call `started`."""
        def start_again() -> None:
            if not self.unloading:  # a bootout came in meanwhile: it wins
                self.start()
            started()

        self._after_exit.append(start_again)
        self._terminate()

    def unload(self, done: Callable[[], None]) -> None:
        """bootout: stop for good; `done` runs once nothing of the job is left."""
        self.unloading = True
        self._cancel(restart=True)
        if not self.running:
            done()
            return
        self._after_exit.append(done)
        self._terminate()

    def send(self, signal_number: int) -> None:
        os.kill(self.pid, signal_number)

    def _terminate(self) -> None:
        if self._cancel_kill is None:
            self.send(signal.SIGTERM)
            pid = self.pid
            self._cancel_kill = self._clock.call_later(self.spec.exit_timeout, lambda: _kill_group(pid, signal.SIGKILL))

    def _ended(self, exit: Exit) -> None:
        self.last_exit = exit
        waiting, self._after_exit = self._after_exit, []
        if waiting:
            for then in waiting:
                then()
        elif not self.unloading and self.spec.keeps_alive_after(exit):
            delay = max(0.0, self._last_start + self.spec.throttle_interval - self._clock.now())
            self._cancel_restart = self._clock.call_later(delay, self.start)

    def _cancel(self, restart: bool = False, kill: bool = False) -> None:
        if restart and self._cancel_restart:
            self._cancel_restart()
            self._cancel_restart = None
        if kill and self._cancel_kill:
            self._cancel_kill()
            self._cancel_kill = None


def _kill_group(pid: int, signal_number: int) -> None:
    try:
        os.killpg(pid, signal_number)
    except ProcessLookupError:
        pass  # nothing left of the group
