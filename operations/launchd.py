"""Operations that keep launchd jobs in their desired state.

pyinfra's own ``launchd.service`` only runs ``launchctl start/stop``; these load
and unload jobs from plists with ``bootstrap``/``bootout``, the way modern
launchd wants, and touch a running job only when its plist changed.
"""

from __future__ import annotations

import hashlib
import shlex
from io import BytesIO

from pyinfra import host, logger
from pyinfra.api import OperationError, StringCommand, operation
from pyinfra.facts.files import Sha1File
from pyinfra.operations import files

from facts.launchd import LaunchdDomain, LaunchdService
from facts.once import read
from facts.port_holders import port_holders

# How long to wait for a booted-out job to be gone before bootstrapping it again:
# bootout returns before the job has exited (and `bootout --wait` does not exist
# on every macOS release).
BOOTOUT_WAIT_S = 30


def bootout_and_wait(target: str) -> StringCommand:
    """Boot a job out and wait until launchd no longer knows it.

    Exit 3 (no such process) means it was already gone; 36 means a teardown is
    already in progress: both end in the same wait.
    """
    quoted = shlex.quote(target)
    tries = BOOTOUT_WAIT_S * 10
    return StringCommand(
        f"launchctl bootout {quoted}; rc=$?;"
        f' case $rc in 0|3|36) ;; *) echo "launchctl bootout {quoted} failed with $rc" >&2; exit $rc;; esac;'
        f" i=0; while launchctl print {quoted} >/dev/null 2>&1; do"
        f" i=$((i+1)); if [ $i -ge {tries} ]; then"
        f' echo "{target} is still loaded {BOOTOUT_WAIT_S}s after bootout" >&2; exit 1; fi;'
        " sleep 0.1; done",
    )


@operation()
def job_loaded(
    target: str,
    plist_path: str,
    plist: bytes,
    user: str | None = None,
    group: str | None = None,
):
    """
    Install a launchd job's plist and keep the job loaded.

    + target: the service target, ``<domain>/<label>`` (``gui/501/x`` or ``system/x``)
    + plist: the plist's bytes (see ``private_ollama.desired_state.files.plist_bytes``)
    + plist_path: where the plist lives (LaunchAgents or LaunchDaemons)
    + user, group: owner of the plist (launchd refuses plists others can write)

    An unchanged plist never restarts a loaded job. A changed one is booted out,
    waited for, and bootstrapped again; a job that is not loaded is bootstrapped;
    a label that was disabled is enabled first.

    **Example:**

    .. code:: python

        launchd.job_loaded(
            name="Ensure Ollama runs as a launchd job",
            target="gui/501/org.private-ollama.ollama",
            plist_path="/Users/admin/Library/LaunchAgents/org.private-ollama.ollama.plist",
            plist=plist_bytes(ollama_job(settings, layout)),
        )
    """
    domain, label = target.rsplit("/", 1)
    plist_changed = read(Sha1File, path=plist_path) != hashlib.sha1(plist).hexdigest()

    # Also repairs the owner and mode of an unchanged plist, without a reload.
    yield from files.put._inner(src=BytesIO(plist), dest=plist_path, user=user, group=group, mode="644")

    if read(LaunchdDomain, domain=domain)["disabled"].get(label):
        yield StringCommand("launchctl", "enable", shlex.quote(target))

    service = read(LaunchdService, target=target)
    bootstrap = StringCommand("launchctl", "bootstrap", shlex.quote(domain), shlex.quote(plist_path))
    if service is None:
        yield bootstrap
    elif plist_changed or service.get("path") != plist_path:
        yield bootout_and_wait(target)
        yield bootstrap
    else:
        host.noop(f"{target} is loaded and its plist is unchanged")


@operation()
def job_absent(target: str, plist_path: str):
    """
    Unload a launchd job and remove its plist.

    **Example:**

    .. code:: python

        launchd.job_absent(
            name="Ensure the HAProxy job is gone",
            target="gui/501/org.private-ollama.haproxy",
            plist_path="/Users/admin/Library/LaunchAgents/org.private-ollama.haproxy.plist",
        )
    """
    if read(LaunchdService, target=target) is not None:
        yield bootout_and_wait(target)
    yield from files.file._inner(path=plist_path, present=False)


@operation()
def port_released(address: str, port: int, owner_target: str, squatter_domain: str):
    """
    Stop and disable any other launchd job that listens on the port our job needs.

    + address, port: what our job binds (e.g. ``127.0.0.1``, 11434)
    + owner_target: our job's service target; its own listener is left alone
    + squatter_domain: the domain whose jobs ``launchctl list`` shows the deploy
      user, where Ollama.app and brew services run (``gui/<uid>``)

    Ollama.app and the ``homebrew.mxcl.ollama`` brew service both take
    127.0.0.1:11434. A listener that launchd did not start (so cannot be
    disabled cleanly) fails the operation with what to do.

    **Example:**

    .. code:: python

        launchd.port_released(
            name="Ensure nothing else holds Ollama's port",
            address="127.0.0.1", port=11434,
            owner_target="gui/501/org.private-ollama.ollama",
            squatter_domain="gui/501",
        )
    """
    holders = port_holders(address, port, owner_target)
    if not holders:
        host.noop(f"nothing but {owner_target} listens on port {port}")
        return
    for label in dict.fromkeys(holder["label"] for holder in holders):
        if label is None:
            stranger = next(holder for holder in holders if holder["label"] is None)
            raise OperationError(
                f"{stranger['command']} (pid {stranger['pid']}) holds port {port} and launchd did not start it: "
                "stop it, then run again",
            )
        squatter = f"{squatter_domain}/{label}"
        if host.state.is_executing:
            logger.warning(f"{host.print_prefix}Stopping and disabling {squatter}, which held port {port}")
        yield StringCommand("launchctl", "disable", shlex.quote(squatter))
        yield bootout_and_wait(squatter)
