"""launchd's domains and the jobs loaded in them.

`system` always exists. `gui/<uid>` exists only while the UID is listed in
the gui-sessions file: when it appears, the user's LaunchAgents are loaded
(/Library/LaunchAgents then ~/Library/LaunchAgents, skipping disabled ones
and ones not meant for an Aqua session), as at a GUI login; when it goes, its
jobs are stopped and the domain is gone, as at logout. `user/<uid>` exists for
every user with a passwd entry (launchd creates it at any login, SSH too) and
takes only plists whose LimitLoadToSessionType includes Background. At boot,
/Library/LaunchDaemons is loaded into `system`.

.. code:: python

    launchd = Launchd(state_dir, library=Path("/Library"), var_folders=Path("/var/folders"), clock=loop)
    launchd.boot()
    launchd.domain(Target("gui/501")).jobs  # {"org.private-ollama.ollama": Job(...)}
"""

from __future__ import annotations

import pwd
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import darwin
from .faults import Fault
from .jobs import Clock, Job
from .overrides import Overrides
from .plists import JobSpec, read_job
from .sessions import gui_session_uids
from .targets import Target

FIRST_AUDIT_SESSION_ID = 100003  # what `domain = gui/501 [100003]` shows


@dataclass
class Domain:
    target: Target
    asid: int | None = None
    jobs: dict[str, Job] = field(default_factory=dict)


class Launchd:
    def __init__(self, state_dir: Path, library: Path, var_folders: Path, clock: Clock) -> None:
        self.library = library
        self.overrides = Overrides(state_dir / "overrides.plist")
        self.processes: dict[int, Job] = {}  # every live job process, also of logged-out domains
        self._sessions_file = state_dir / "gui-sessions"
        self._var_folders = var_folders
        self._clock = clock
        self._domains: dict[str, Domain] = {"system": Domain(Target("system"))}
        self._next_asid = FIRST_AUDIT_SESSION_ID

    def boot(self) -> None:
        self._load_folder(self._domains["system"], self.library / "LaunchDaemons")
        self.sync_sessions()

    def sync_sessions(self) -> None:
        """Log GUI sessions in and out to match the gui-sessions file."""
        listed = {uid for uid in gui_session_uids(self._sessions_file) if _home(uid) is not None}
        current = {domain.target.uid for domain in self._domains.values() if domain.target.kind == "gui"}
        for uid in sorted(current - listed):
            domain = self._domains.pop(f"gui/{uid}")
            for job in list(domain.jobs.values()):
                job.unload(lambda: None)
        for uid in sorted(listed - current):
            domain = self._domains[f"gui/{uid}"] = Domain(Target(f"gui/{uid}"), self._new_asid())
            self._load_folder(domain, self.library / "LaunchAgents")
            self._load_folder(domain, Path(_home(uid), "Library", "LaunchAgents"))

    def has_gui_session(self, uid: int) -> bool:
        return f"gui/{uid}" in self._domains

    def domain(self, target: Target) -> Domain:
        """The domain `target` names; Fault 125 when it does not exist (no GUI login)."""
        if target.domain not in self._domains and target.kind == "user" and _home(target.uid) is not None:
            self._domains[target.domain] = Domain(Target(target.domain), self._new_asid())
        if target.domain not in self._domains:
            raise Fault.no_domain(target)
        return self._domains[target.domain]

    def job(self, target: Target) -> Job:
        """The loaded job `target` names; Fault 125 (no domain) or 113 (no such service)."""
        job = self.domain(target).jobs.get(target.label)
        if job is None:
            raise Fault.no_service(target)
        return job

    def read(self, path: str, domain: Domain) -> JobSpec:
        return read_job(path, domain.target, _home(domain.target.uid), self.library)

    def load(self, domain: Domain, spec: JobSpec) -> None:
        """bootstrap one job: 37 while the label is still being booted out, 5 when loaded or disabled."""
        loaded = domain.jobs.get(spec.label)
        if loaded is not None:
            raise Fault(darwin.EALREADY if loaded.unloading else darwin.EIO)
        if self.overrides.disabled(domain.target.domain, spec.label, spec.disabled):
            raise Fault(darwin.EIO)
        if domain.target.kind != "system" and domain.target.session_type not in spec.session_types:
            raise Fault(darwin.DOMAIN_ACTION_UNSUPPORTED)
        job = domain.jobs[spec.label] = Job(spec, domain.target, self.processes, self._clock, self._var_folders)
        job.load()

    def unload(self, domain: Domain, job: Job) -> None:
        """bootout: returns at once; the label stays (in progress) until the process has exited."""
        job.unload(lambda: domain.jobs.pop(job.spec.label) if domain.jobs.get(job.spec.label) is job else None)

    def unload_all(self) -> None:
        for domain in self._domains.values():
            for job in list(domain.jobs.values()):
                self.unload(domain, job)

    def _load_folder(self, domain: Domain, folder: Path) -> None:
        for path in sorted(folder.glob("*.plist")):
            try:
                self.load(domain, self.read(str(path), domain))
            except Fault as refused:
                print(f"launchd: {domain.target}: not loading {path}: {refused.code}", file=sys.stderr, flush=True)

    def _new_asid(self) -> int:
        self._next_asid += 1
        return self._next_asid - 1


def _home(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_dir
    except KeyError:
        return None
