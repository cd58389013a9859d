"""launchctl's subcommands, run inside the daemon for a caller known by uid.

Permissions: root may act on any domain; any other caller only on its own
`gui/<uid>` and `user/<uid>`; anyone may read `system`. Acting on `system` as
non-root fails with launchd's ``1: Operation not permitted`` (what launchd
logs as "Caller not allowed to perform action ... code = 1").

Wording per verb (from the macOS captures; exit status = the code):
- bootstrap/bootout: ``Bootstrap failed: 5: Input/output error`` / ``Boot-out
  failed: 3: No such process``, plus ``Try re-running the command as root for
  richer errors.`` for non-root callers; a 125 from bootstrap adds ``Service
  cannot load in requested session``.
- kickstart: ``Could not kickstart service "<label>": 125: Domain does not
  support specified action``; a missing service prints ``Could not find service
  "<label>" in domain for user gui: 501`` (exit 113), as the capture shows.
- kill/enable/disable follow kickstart's wording (no capture exists).
- print: ``Bad request.`` + the could-not-find sentence, exit 113.
- a gui domain without a GUI login: ``Could not find domain for user gui: 501``,
  exit 125 (bootstrap and kickstart use their own 125 wording).
- usage errors print the verb's usage and exit 64.

.. code:: python

    run(launchd, Caller(uid=501, cwd="/Users/admin"), ["print", "gui/501/x"])
    # Reply(status=0, stdout="gui/501/x = {\\n...", stderr="")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import darwin, render
from .faults import Fault
from .registry import Domain, Launchd
from .targets import Target, parse_target

ROOT_HINT = "Try re-running the command as root for richer errors."
SERVICE_TARGET_HELP = (
    "<service-target> takes a form of <domain-target>/<service-id>.\n"
    "Please refer to `man launchctl` for explanation of the <domain-target> specifiers.\n"
)
USAGE = {
    "bootstrap": "Usage: launchctl bootstrap <domain-target> [service-path, service-path2, ...]\n",
    "bootout": "Usage: launchctl bootout <domain-target> [service-path1, service-path2, ...] | <service-target>\n" + SERVICE_TARGET_HELP,
    "kickstart": "Usage: launchctl kickstart [-k] [-p] <service-target>\n" + SERVICE_TARGET_HELP,
    "kill": "Usage: launchctl kill <signal-number|signal-name> <service-target>\n" + SERVICE_TARGET_HELP,
    "print": "Usage: launchctl print <service-target|domain-target>\n" + SERVICE_TARGET_HELP,
    "print-disabled": "Usage: launchctl print-disabled <domain-target>\n",
    "enable": "Usage: launchctl enable <service-target>\n" + SERVICE_TARGET_HELP,
    "disable": "Usage: launchctl disable <service-target>\n" + SERVICE_TARGET_HELP,
    "list": "Usage: launchctl list [-x] [label]\n",
    "managername": "Usage: launchctl managername\n",
}
GENERAL_USAGE = (
    "Usage: launchctl <subcommand> ... | help [subcommand]\n"
    "Many subcommands take a target specifier that refers to a domain or service\n"
    "within that domain. The available specifier forms are:\n\n"
    "system/[service-name]\n"
    "Targets the system-wide domain or service within. Root privileges are required\n"
    "to make modifications.\n\n"
    "user/<uid>/[service-name]\n"
    "Targets the user domain or service within. A process running as the target user\n"
    "may make modifications. Root may modify any user's domain.\n\n"
    "gui/<uid>/[service-name]\n"
    "Targets the GUI domain or service within. Each GUI domain is associated with a\n"
    "user domain, and a process running as the owner of that user domain may make\n"
    "modifications. Root may modify any GUI domain.\n\n"
    f"Subcommands: {', '.join(USAGE)}\n"
)


@dataclass(frozen=True)
class Caller:
    uid: int
    cwd: str = "/"

    @property
    def root(self) -> bool:
        return self.uid == 0

    def may_modify(self, target: Target) -> bool:
        return self.root or (target.kind != "system" and target.uid == self.uid)

    def may_read(self, target: Target) -> bool:
        return target.kind == "system" or self.may_modify(target)


@dataclass(frozen=True)
class Reply:
    status: int = 0
    stdout: str = ""
    stderr: str = ""


class Deferred:
    """A reply that comes later (kickstart -k answers once the new process runs)."""

    def __init__(self) -> None:
        self._reply: Reply | None = None
        self._deliver: Callable[[Reply], None] | None = None

    def resolve(self, reply: Reply) -> None:
        self._reply = reply
        self._flush()

    def on_reply(self, deliver: Callable[[Reply], None]) -> None:
        self._deliver = deliver
        self._flush()

    def _flush(self) -> None:
        if self._reply is not None and self._deliver is not None:
            self._deliver(self._reply)
            self._deliver = None


class Usage(Exception):
    def __init__(self, verb: str, unrecognized_target: bool = False) -> None:
        super().__init__(verb)
        self.text = ("Unrecognized target specifier.\n" if unrecognized_target else "") + USAGE[verb]


def run(launchd: Launchd, caller: Caller, argv: list[str]) -> Reply | Deferred:
    """Run one launchctl command line (without the leading `launchctl`)."""
    if not argv or argv[0] not in _VERBS:
        first = f"Unrecognized subcommand: {argv[0]}\n" if argv else ""
        return Reply(darwin.EX_USAGE, stderr=first + GENERAL_USAGE)
    verb, arguments = argv[0], argv[1:]
    launchd.sync_sessions()  # the lab may have logged someone in or out since the last request
    try:
        return _VERBS[verb](launchd, caller, arguments)
    except Usage as usage:
        return Reply(darwin.EX_USAGE, stderr=usage.text)
    except Fault as fault:  # e.g. `list` by a uid that has no passwd entry, hence no domain
        return Reply(fault.code, stderr=f"{fault.detail}\n")


def _target(verb: str, text: str, service: bool | None) -> Target:
    """Parse a target; `service` True needs a label, False forbids one, None accepts both."""
    target = parse_target(text)
    if target is None or (service is True and not target.label) or (service is False and target.label):
        raise Usage(verb, unrecognized_target=True)
    return target


def _failed(verb: str, caller: Caller, fault: Fault) -> Reply:
    """bootstrap/bootout wording: `<Verb> failed: <code>: <strerror>` (+ hint for non-root)."""
    lines = [f"{verb} failed: {fault.code}: {fault.strerror}"]
    if verb == "Bootstrap" and fault.code == darwin.DOMAIN_ACTION_UNSUPPORTED:
        lines.append("Service cannot load in requested session")
    if not caller.root:
        lines.append(ROOT_HINT)
    return Reply(fault.code, stderr="\n".join(lines) + "\n")


def _could_not(verb: str, target: Target, fault: Fault) -> Reply:
    """kickstart/kill/enable/disable wording."""
    if fault.kind == "no-service" or (fault.kind == "no-domain" and verb != "kickstart"):
        return Reply(fault.code, stderr=fault.detail + "\n")
    return Reply(fault.code, stderr=f'Could not {verb} service "{target.label}": {fault.code}: {fault.strerror}\n')


def _bootstrap(launchd: Launchd, caller: Caller, arguments: list[str]) -> Reply:
    if len(arguments) < 2:
        raise Usage("bootstrap")
    target = _target("bootstrap", arguments[0], service=False)
    try:
        if not caller.may_modify(target):
            raise Fault(darwin.EPERM)
        domain = launchd.domain(target)
        failures = [fault for path in _plist_paths(caller, arguments[1:]) if (fault := _load_one(launchd, domain, path))]
    except Fault as fault:
        return _failed("Bootstrap", caller, fault)
    return _failed("Bootstrap", caller, failures[0]) if failures else Reply()


def _load_one(launchd: Launchd, domain: Domain, path: str) -> Fault | None:
    try:
        launchd.load(domain, launchd.read(path, domain))
    except Fault as fault:
        return fault
    return None


def _plist_paths(caller: Caller, arguments: list[str]) -> list[str]:
    """Paths relative to the caller's directory; a folder stands for the plists in it."""
    paths = [Path(caller.cwd, argument) for argument in arguments]
    return [str(plist) for path in paths for plist in (sorted(path.glob("*.plist")) if path.is_dir() else [path])]


def _bootout(launchd: Launchd, caller: Caller, arguments: list[str]) -> Reply:
    if not arguments or arguments[0].startswith("-"):
        raise Usage("bootout", unrecognized_target=True)  # e.g. --wait (macOS 15 capture)
    target = _target("bootout", arguments[0], service=None)
    if bool(target.label) == (len(arguments) > 1):
        raise Usage("bootout")  # a service target alone, or a domain with plist paths (never a whole domain)
    try:
        if not caller.may_modify(target):
            raise Fault(darwin.EPERM)
        domain = launchd.domain(target)
    except Fault as fault:
        return Reply(fault.code, stderr=fault.detail + "\n") if fault.kind == "no-domain" else _failed("Boot-out", caller, fault)
    if target.label:
        labels, missing = [target.label], darwin.ESRCH
    else:
        labels, missing = [_label_in(launchd, domain, path) for path in _plist_paths(caller, arguments[1:])], darwin.EIO
    faults = [fault for label in labels if (fault := _unload_one(launchd, domain, label, missing))]
    return _failed("Boot-out", caller, faults[0]) if faults else Reply()


def _label_in(launchd: Launchd, domain: Domain, path: str) -> str | None:
    try:
        return launchd.read(path, domain).label
    except Fault:
        return None


def _unload_one(launchd: Launchd, domain: Domain, label: str | None, missing: int) -> Fault | None:
    job = domain.jobs.get(label)
    if job is None:
        return Fault(missing)
    if job.unloading:
        return Fault(darwin.EINPROGRESS)
    launchd.unload(domain, job)
    return None


def _kickstart(launchd: Launchd, caller: Caller, arguments: list[str]) -> Reply | Deferred:
    flags = {flag for argument in arguments if argument.startswith("-") for flag in argument[1:]}
    positional = [argument for argument in arguments if not argument.startswith("-")]
    if len(positional) != 1 or not flags <= {"k", "p"}:
        raise Usage("kickstart")
    target = _target("kickstart", positional[0], service=True)
    try:
        if not caller.may_modify(target):
            raise Fault(darwin.EPERM)
        job = launchd.job(target)
        if job.unloading:
            raise Fault(darwin.EALREADY)
        if launchd.overrides.disabled(target.domain, target.label, job.spec.disabled):
            raise Fault(darwin.SERVICE_DISABLED)
    except Fault as fault:
        return _could_not("kickstart", target, fault)

    def started() -> Reply:
        return Reply(stdout=f"{job.pid}\n" if "p" in flags and job.running else "")

    if job.running and "k" in flags:
        later = Deferred()
        job.restart(lambda: later.resolve(started()))
        return later
    if not job.running:
        job.start()
    return started()


def _kill(launchd: Launchd, caller: Caller, arguments: list[str]) -> Reply:
    if len(arguments) != 2:
        raise Usage("kill")
    number = darwin.linux_signal(arguments[0])
    if number is None:
        return Reply(darwin.EX_USAGE, stderr="Invalid signal.\n" + USAGE["kill"])
    target = _target("kill", arguments[1], service=True)
    try:
        if not caller.may_modify(target):
            raise Fault(darwin.EPERM)
        job = launchd.job(target)
        if not job.running:
            raise Fault(darwin.ESRCH)
    except Fault as fault:
        return _could_not("kill", target, fault)
    job.send(number)
    return Reply()


def _print(launchd: Launchd, caller: Caller, arguments: list[str]) -> Reply:
    if len(arguments) != 1:
        raise Usage("print")
    target = _target("print", arguments[0], service=None)
    try:
        if not caller.may_read(target):
            raise Fault(darwin.EPERM)
        domain = launchd.domain(target)
        if not target.label:
            return Reply(stdout=render.domain(domain, launchd.overrides.of(target.domain)))
        return Reply(stdout=render.service(launchd.job(target), domain))
    except Fault as fault:
        if fault.kind == "no-service":
            return Reply(fault.code, stderr=f"Bad request.\n{fault.detail}\n")
        if fault.kind == "no-domain":
            return Reply(fault.code, stderr=f"{fault.detail}\n")
        return Reply(fault.code, stderr=f"Bad request.\n{fault.code}: {fault.strerror}\n")


def _print_disabled(launchd: Launchd, caller: Caller, arguments: list[str]) -> Reply:
    if len(arguments) != 1:
        raise Usage("print-disabled")
    target = _target("print-disabled", arguments[0], service=False)
    return Reply(stdout=render.disabled(launchd.overrides.of(target.domain)))


def _switch(disabled: bool):
    verb = "disable" if disabled else "enable"

    def switch(launchd: Launchd, caller: Caller, arguments: list[str]) -> Reply:
        if len(arguments) != 1:
            raise Usage(verb)
        target = _target(verb, arguments[0], service=True)
        try:
            if not caller.may_modify(target):
                raise Fault(darwin.EPERM)
            launchd.domain(target)
        except Fault as fault:
            return _could_not(verb, target, fault)
        launchd.overrides.set(target.domain, target.label, disabled)
        return Reply()

    return switch


def _list(launchd: Launchd, caller: Caller, arguments: list[str]) -> Reply:
    if len(arguments) > 1 or any(argument.startswith("-") for argument in arguments):
        raise Usage("list")
    domain = launchd.domain(_own_domain(launchd, caller))
    if not arguments:
        return Reply(stdout=render.listing(domain))
    job = domain.jobs.get(arguments[0])
    if job is None:
        return Reply(darwin.SERVICE_NOT_FOUND, stderr=f'Could not find service "{arguments[0]}" in domain for port\n')
    return Reply(stdout=render.listing_of(job, domain))


def _own_domain(launchd: Launchd, caller: Caller) -> Target:
    """The caller's session domain: system for root, gui in a GUI login, else the background user domain."""
    if caller.root:
        return Target("system")
    return Target(f"gui/{caller.uid}" if launchd.has_gui_session(caller.uid) else f"user/{caller.uid}")


def _managername(launchd: Launchd, caller: Caller, arguments: list[str]) -> Reply:
    if arguments:
        raise Usage("managername")
    return Reply(stdout="Aqua\n" if launchd.has_gui_session(caller.uid) else "Background\n")


_VERBS = {
    "bootstrap": _bootstrap,
    "bootout": _bootout,
    "kickstart": _kickstart,
    "kill": _kill,
    "print": _print,
    "print-disabled": _print_disabled,
    "enable": _switch(disabled=False),
    "disable": _switch(disabled=True),
    "list": _list,
    "managername": _managername,
}
