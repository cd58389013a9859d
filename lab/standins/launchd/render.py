"""launchctl's output formats: `print` (service and domain), `print-disabled`, `list`.

The layout follows the macOS captures: TAB indentation, `key = value`, nested
`{ }` blocks, environment entries as `KEY => value`, `pid = N` only while
running, and either `last exit code = ...` or, after a signal, `last
terminating signal = Terminated: 15` in its place.

.. code:: python

    print(service(job, domain))  # gui/501/x = {\\n\\tactive count = 1\\n ...
"""

from __future__ import annotations

from .jobs import Job
from .registry import Domain
from .spawn import DEFAULT_PATH

_TYPES = {"system": "LaunchDaemon", "gui": "LaunchAgent", "user": "LaunchAgent"}
_DOMAIN_TYPES = {"system": "system", "gui": "login", "user": "user"}


def service(job: Job, domain: Domain) -> str:
    spec = job.spec
    lines = [
        f"{job.target} = {{",
        f"\tactive count = {int(job.running)}",
        f"\tpath = {spec.path}",
        f"\ttype = {_TYPES[domain.target.kind]}",
        f"\tstate = {'running' if job.running else 'not running'}",
        "",
        f"\tprogram = {spec.program}",
        *_block("arguments", spec.arguments),
        "",
    ]
    if spec.working_directory:
        lines += [f"\tworking directory = {spec.working_directory}", ""]
    lines += [f"\tstdout path = {spec.stdout_path}"] if spec.stdout_path else []
    lines += [f"\tstderr path = {spec.stderr_path}"] if spec.stderr_path else []
    lines += [*_environment("default environment", {"PATH": DEFAULT_PATH}), ""]
    lines += [*_environment("environment", {**spec.environment, "XPC_SERVICE_NAME": spec.label}), ""]
    if domain.asid is not None:
        lines += [f"\tdomain = {domain.target} [{domain.asid}]", f"\tasid = {domain.asid}"]
    else:
        lines += [f"\tdomain = {domain.target}"]
    lines += [f"\tminimum runtime = {spec.throttle_interval}", f"\texit timeout = {spec.exit_timeout}", f"\truns = {job.runs}"]
    lines += [f"\tpid = {job.pid}"] if job.running else []
    lines += [f"\t{job.last_exit.described()}" if job.last_exit else "\tlast exit code = (never exited)", ""]
    lines += [f"\tproperties = {' | '.join(_properties(job))}", "}"]
    return "\n".join(lines) + "\n"


def domain(domain: Domain, overrides: dict[str, bool]) -> str:
    jobs = sorted(domain.jobs.values(), key=lambda job: job.spec.label)
    lines = [f"{domain.target} = {{", f"\ttype = {_DOMAIN_TYPES[domain.target.kind]}"]
    lines += [f"\tasid = {domain.asid}"] if domain.asid is not None else []
    lines += [f"\tservice count = {len(jobs)}", f"\tactive service count = {sum(job.running for job in jobs)}", ""]
    lines += ["\tservices = {", *(f"\t\t{job.pid or 0:>8} {_status(job):>8} \t{job.spec.label}" for job in jobs), "\t}", ""]
    lines += ["\t" + line for line in disabled(overrides).splitlines()]
    return "\n".join([*lines, "}"]) + "\n"


def disabled(overrides: dict[str, bool]) -> str:
    """The `disabled services` block (macOS 26 wording: `=> disabled|enabled`)."""
    rows = [f'\t"{label}" => {"disabled" if off else "enabled"}' for label, off in sorted(overrides.items())]
    return "\n".join(["disabled services = {", *rows, "}"]) + "\n"


def listing(domain: Domain) -> str:
    rows = [f"{job.pid or '-'}\t{_status(job, never='0')}\t{job.spec.label}" for job in domain.jobs.values()]
    return "\n".join(["PID\tStatus\tLabel", *rows]) + "\n"


def listing_of(job: Job, domain: Domain) -> str:
    """`launchctl list <label>`: the old plist-ish dictionary."""
    spec = job.spec
    lines = ["{", f'\t"LimitLoadToSessionType" = "{domain.target.session_type}";', f'\t"Label" = "{spec.label}";']
    lines += [f'\t"OnDemand" = {"false" if spec.keep_alive is True else "true"};']
    lines += [f'\t"LastExitStatus" = {job.last_exit.wait_status() if job.last_exit else 0};']
    lines += [f'\t"PID" = {job.pid};'] if job.running else []
    lines += [f'\t"Program" = "{spec.program}";', '\t"ProgramArguments" = (', *(f'\t\t"{arg}";' for arg in spec.arguments), "\t);", "};"]
    return "\n".join(lines) + "\n"


def _status(job: Job, never: str = "-") -> str:
    return str(job.last_exit.list_status()) if job.last_exit else never


def _properties(job: Job) -> list[str]:
    spec = job.spec
    keeps_alive = spec.keep_alive is True or bool(isinstance(spec.keep_alive, dict) and spec.keep_alive)
    flags = [("keepalive", keeps_alive), ("runatload", spec.run_at_load), ("inferred program", spec.inferred_program)]
    return [name for name, present in flags if present]


def _block(name: str, items: tuple[str, ...]) -> list[str]:
    return [f"\t{name} = {{", *(f"\t\t{item}" for item in items), "\t}"]


def _environment(name: str, variables: dict[str, str]) -> list[str]:
    return _block(name, tuple(f"{key} => {value}" for key, value in variables.items()))
