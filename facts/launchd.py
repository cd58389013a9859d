"""Facts that read launchd: one service, one domain, and the caller's job list.

``launchctl print`` prints nested ``key = {`` blocks; only a block's direct
lines belong to it (a job's ``state`` is not its resource coalition's
``state = active``), so the output is read as a tree, never as flat lines.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import TypedDict

from pyinfra import logger
from pyinfra.api import FactBase
from typing_extensions import override

from facts import split_exit_status, with_exit_status

# launchctl's own status codes: 113 service not found, 125 domain does not
# support the action (no GUI session for gui/<uid>).
_SERVICE_NOT_FOUND = 113
_DOMAIN_UNSUPPORTED = 125
_NOT_FOUND_MESSAGES = ("Could not find service", "Could not find domain")
_BLOCK_START = re.compile(r"^(?P<key>.*?) =>? \{$")
_FIELD = re.compile(r"^(?P<key>.*?) (?P<sep>=>?)(?: (?P<value>.*))?$")


@dataclass
class _Block:
    """One ``{ }`` block of ``launchctl print``: its direct lines, fields and sub-blocks."""

    lines: list[str] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)
    blocks: dict[str, _Block] = field(default_factory=dict)

    def find(self, key: str) -> _Block | None:
        """The first block named ``key`` at any depth, depth first."""
        if key in self.blocks:
            return self.blocks[key]
        return next((found for block in self.blocks.values() if (found := block.find(key))), None)


def _parse_print(lines: list[str]) -> _Block:
    """``launchctl print`` output as a tree. Indentation is ignored (braces decide)."""
    root = _Block()
    stack = [root]
    for line in lines:
        text = line.strip()
        if not text:
            continue
        if text == "}":
            if len(stack) > 1:
                stack.pop()
            continue
        start = _BLOCK_START.match(text)
        if start:
            block = stack[-1].blocks[start["key"].strip('"')] = _Block()
            stack.append(block)
            continue
        stack[-1].lines.append(text)
        entry = _FIELD.match(text)
        if entry:
            stack[-1].fields[entry["key"].strip('"')] = entry["value"] or ""
    return root


def _int_or_none(value: str | None, what: str) -> int | None:
    """The integer at the start of ``value``: ``"78: EX_CONFIG"`` -> 78, ``"(never exited)"`` -> None."""
    if value is None or value == "(never exited)":
        return None
    match = re.match(r"^-?\d+", value)
    if match is None:
        logger.warning(f"launchctl print: could not read {what} from {value!r}")
        return None
    return int(match[0])


def _first_line(lines: list[str], status: int) -> str:
    return next((line for line in lines if line.strip()), f"launchctl exited with status {status}")


class ServiceState(TypedDict):
    state: str | None
    pid: int | None
    path: str | None
    program: str | None
    arguments: list[str]
    environment: dict[str, str]
    last_exit_code: int | None
    runs: int | None
    domain: str | None


class LaunchdService(FactBase[ServiceState | None]):
    """
    A loaded launchd service as ``launchctl print`` shows it; None when it is not
    loaded, and also when its domain does not exist (see ``LaunchdDomain`` to tell
    the two apart). ``environment`` is what the job runs with: the plist's
    variables plus the ones launchd adds (``XPC_SERVICE_NAME``, sometimes
    ``OSLogRateLimit``). ``last_exit_code`` is None until the job first exits.

    + target: ``gui/<uid>/<label>``, ``user/<uid>/<label>`` or ``system/<label>``

    .. code:: python

        {
            "state": "running", "pid": 921, "domain": "gui/501",
            "path": "/Users/admin/Library/LaunchAgents/org.private-ollama.ollama.plist",
            "program": "/opt/homebrew/bin/ollama", "arguments": ["/opt/homebrew/bin/ollama", "serve"],
            "environment": {"OLLAMA_HOST": "127.0.0.1:11434", "XPC_SERVICE_NAME": "org.private-ollama.ollama"},
            "last_exit_code": None, "runs": 1,
        }
    """

    @override
    def command(self, target: str) -> str:
        return with_exit_status(f"launchctl print {shlex.quote(target)}")

    @override
    def process(self, output: list[str]) -> ServiceState | None:
        split = split_exit_status(output, "LaunchdService")
        if split is None:
            return None
        lines, status = split
        # Not loaded, or no such domain: an answer, not a failure (exit codes
        # of `print` are unverified, so the message alone also counts).
        if status in (_SERVICE_NOT_FOUND, _DOMAIN_UNSUPPORTED) or any(
            line.startswith(_NOT_FOUND_MESSAGES) for line in lines
        ):
            return None
        if status != 0:
            logger.warning(f"LaunchdService: launchctl print failed: {_first_line(lines, status)}")
            return None

        service = next(iter(_parse_print(lines).blocks.values()), None)
        if service is None:
            logger.warning(f"LaunchdService: no service block in output {lines[:3]!r}")
            return None
        fields = service.fields
        arguments = service.blocks.get("arguments", _Block())
        environment = service.blocks.get("environment", _Block())
        domain = fields.get("domain")
        return ServiceState(
            state=fields.get("state"),
            pid=_int_or_none(fields.get("pid"), "pid"),
            path=fields.get("path"),
            program=fields.get("program"),
            arguments=arguments.lines,
            environment=environment.fields,
            last_exit_code=_int_or_none(fields.get("last exit code"), "last exit code"),
            runs=_int_or_none(fields.get("runs"), "runs"),
            # The audit session follows the domain: "gui/501 [100022]".
            domain=re.sub(r" \[\d+\]$", "", domain) if domain else None,
        )


class DomainState(TypedDict):
    available: bool
    error: str | None
    disabled: dict[str, bool]


class LaunchdDomain(FactBase[DomainState]):
    """
    Whether a launchd domain exists for this session, and which labels it has
    disabled (True) or explicitly enabled (False). ``gui/<uid>`` exists only
    while that user has a GUI login session: over SSH on a headless Mac it is
    unavailable, with launchctl's message in ``error``.

    + domain: ``gui/<uid>``, ``user/<uid>`` or ``system``

    .. code:: python

        {"available": True, "error": None, "disabled": {"homebrew.mxcl.ollama": True}}
        {"available": False, "error": "Could not find domain for user gui: 501", "disabled": {}}
    """

    @override
    def command(self, domain: str) -> str:
        return with_exit_status(f"launchctl print {shlex.quote(domain)}")

    @staticmethod
    def default() -> DomainState:
        return DomainState(available=False, error=None, disabled={})

    @override
    def process(self, output: list[str]) -> DomainState:
        split = split_exit_status(output, "LaunchdDomain")
        if split is None:
            return self.default()
        lines, status = split
        if status != 0 or any(line.startswith("Could not find domain") for line in lines):
            return DomainState(available=False, error=_first_line(lines, status), disabled={})

        disabled: dict[str, bool] = {}
        block = _parse_print(lines).find("disabled services") or _Block()
        for label, value in block.fields.items():
            # macOS 26 prints disabled/enabled; older releases true/false.
            if value in ("disabled", "true", "enabled", "false"):
                disabled[label] = value in ("disabled", "true")
            else:
                logger.warning(f"LaunchdDomain: unknown disabled state {value!r} for {label!r}")
        return DomainState(available=True, error=None, disabled=disabled)


class LaunchdJob(TypedDict):
    pid: int | None
    status: int


class LaunchdJobs(FactBase[dict[str, LaunchdJob]]):
    """
    The jobs ``launchctl list`` shows the caller (as root: the system domain),
    by label. ``pid`` is None when the job is not running; ``status`` is the last
    exit status, negative for a signal (-9: SIGKILL), and may be non-zero while
    a new instance runs. Maps a PID that holds a port back to its label.

    .. code:: python

        {"homebrew.mxcl.ollama": {"pid": 921, "status": 0}, "com.apple.progressd": {"pid": None, "status": -9}}
    """

    @override
    def command(self) -> str:
        return with_exit_status("launchctl list")

    default = dict

    @override
    def process(self, output: list[str]) -> dict[str, LaunchdJob]:
        split = split_exit_status(output, "LaunchdJobs")
        if split is None:
            return {}
        lines, status = split
        if status != 0:
            logger.warning(f"LaunchdJobs: launchctl list failed: {_first_line(lines, status)}")
            return {}

        jobs: dict[str, LaunchdJob] = {}
        for line in lines:
            columns = line.split(None, 2)
            if columns == ["PID", "Status", "Label"]:
                continue
            if (
                len(columns) != 3
                or not re.fullmatch(r"-|\d+", columns[0])
                or not re.fullmatch(r"-?\d+", columns[1])
            ):
                logger.warning(f"LaunchdJobs: could not parse line {line!r}")
                continue
            pid, exit_status, label = columns
            jobs[label] = LaunchdJob(pid=None if pid == "-" else int(pid), status=int(exit_status))
        return jobs
