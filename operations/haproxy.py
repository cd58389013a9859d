"""The HAProxy config goes live only after HAProxy itself accepted it."""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Callable
from io import StringIO

from pyinfra.api import StringCommand, operation
from pyinfra.facts.files import Sha1File
from pyinfra.operations import files

from facts.launchd import LaunchdService
from facts.once import read


def checked_into_place(haproxy: str, candidate: str, path: str) -> str:
    """The shell command that puts ``candidate`` in place of ``path`` only if ``haproxy -c`` accepts it."""
    quoted, quoted_candidate = shlex.quote(path), shlex.quote(candidate)
    return (
        f"if ! out=$({shlex.quote(haproxy)} -c -f {quoted_candidate} 2>&1); then"
        f' printf "%s\\n" "$out" >&2; rm -f {quoted_candidate};'
        f' echo "haproxy -c rejected the new config; the live config {quoted} is unchanged" >&2; exit 1; fi;'
        f" mv -f {quoted_candidate} {quoted}"
    )


@operation()
def config_live(path: str, render: Callable[[], str | None], haproxy: str, job_target: str):
    """
    Install an HAProxy config that ``haproxy -c`` accepts, and reload HAProxy.

    + path: the live config file
    + render: returns the config's text, or None while it cannot be rendered yet
      (it is called when the operation runs, so it sees facts that earlier
      operations of the same deploy changed, such as a new Tailscale address)
    + haproxy: absolute path of the haproxy binary that checks the config
    + job_target: the HAProxy launchd job; if it runs, it is reloaded with
      SIGUSR2 (master-worker mode: new workers take new connections, old ones
      finish the streams they carry)

    The new text is uploaded beside the live file and checked there; a config
    that fails never replaces the live one, and the operation fails with
    HAProxy's own message.

    **Example:**

    .. code:: python

        haproxy.config_live(
            name="Ensure the HAProxy allowlist config is live",
            path="/Users/admin/.private-ollama/haproxy.cfg",
            render=lambda: haproxy_config(settings, layout, tailnet),
            haproxy="/opt/homebrew/bin/haproxy",
            job_target="gui/501/org.private-ollama.haproxy",
        )
    """
    config = render()
    if config is None:
        # Only while planning a first deploy: Tailscale has no address yet.
        yield StringCommand("echo", shlex.quote(f"render {path} once Tailscale has an address"))
        return
    if read(Sha1File, path=path) == hashlib.sha1(config.encode()).hexdigest():
        # Also repairs the mode of an unchanged config.
        yield from files.put._inner(src=StringIO(config), dest=path, mode="600")
        return

    candidate = f"{path}.new"
    yield from files.put._inner(src=StringIO(config), dest=candidate, mode="600")
    yield StringCommand(checked_into_place(haproxy, candidate, path))
    service = read(LaunchdService, target=job_target)
    if service and service.get("pid"):
        yield StringCommand("launchctl", "kill", "SIGUSR2", shlex.quote(job_target))
