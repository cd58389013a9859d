"""Operations that put the Mac on the tailnet."""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import OperationError, QuoteString, StringCommand, operation
from pyinfra.api.hiddenvalue import HiddenValue

from facts.once import read
from facts.tailscale import TailscaleStatus

# Tailscale echoes a rejected key in its error message; strip any key from what
# the command prints so that it never reaches pyinfra's output.
REDACT_KEYS = r"sed -E 's/tskey-[A-Za-z0-9_-]+/tskey-REDACTED/g'"
# How long a freshly installed tailscaled may take to open its socket.
DAEMON_WAIT_S = 30


@operation()
def daemon_running(cli: str, tailscaled: str):
    """
    Start tailscaled as a system daemon when the CLI cannot reach it (formula install),
    and wait until it answers: ``install-system-daemon`` returns as soon as launchd
    has the job, before the daemon has opened its socket, and a ``tailscale up``
    right after it would fail.

    Needs sudo: tailscaled runs as root. Run it with ``_sudo=True``.

    **Example:**

    .. code:: python

        tailscale.daemon_running(
            name="Ensure tailscaled runs at boot",
            cli="/opt/homebrew/bin/tailscale",
            tailscaled="/opt/homebrew/bin/tailscaled",
            _sudo=True,
        )
    """
    status = read(TailscaleStatus, cli=cli)
    if status["daemon_running"]:
        host.noop("tailscaled is running")
        return
    yield StringCommand(shlex.quote(tailscaled), "install-system-daemon")
    tries = DAEMON_WAIT_S * 10
    yield StringCommand(
        f"i=0; until TAILSCALE_BE_CLI=1 {shlex.quote(cli)} status --json 2>/dev/null | grep -q BackendState; do"
        f" i=$((i+1)); if [ $i -ge {tries} ]; then"
        f' echo "tailscaled did not answer within {DAEMON_WAIT_S}s of install-system-daemon" >&2; exit 1; fi;'
        " sleep 0.1; done",
    )


@operation()
def logged_in(cli: str, hostname: str, tags: list[str], auth_key: str | None, auth_key_env: str):
    """
    Log the node in to the tailnet with an auth key, unless it already is.

    + cli: absolute path of the tailscale CLI
    + hostname, tags: the node's name and ACL tags in the tailnet
    + auth_key: the key, read from the admin laptop's environment; it never
      appears in pyinfra's output, nor in what the command prints
    + auth_key_env: the variable's name, for the error message

    **Example:**

    .. code:: python

        tailscale.logged_in(
            name="Ensure the Mac is on the tailnet",
            cli="/opt/homebrew/bin/tailscale",
            hostname="remote-ollama", tags=["tag:ai-server"],
            auth_key=os.environ.get("TAILSCALE_AUTHKEY"), auth_key_env="TAILSCALE_AUTHKEY",
        )
    """
    status = read(TailscaleStatus, cli=cli)
    if status["backend_state"] == "Running" and status["ipv4"]:
        if status["hostname"] != hostname:
            host.noop(f"on the tailnet as {status['hostname']!r}, not {hostname!r}: rename it in the admin console")
        else:
            host.noop(f"on the tailnet as {status['dns_name']} ({status['ipv4']})")
        return
    if not auth_key:
        raise OperationError(f"not logged in to the tailnet and {auth_key_env} is not set on the admin laptop")
    yield StringCommand(
        "out=$(",
        shlex.quote(cli), "up",
        StringCommand("--auth-key=", QuoteString(HiddenValue(auth_key)), _separator=""),
        shlex.quote(f"--hostname={hostname}"),
        shlex.quote(f"--advertise-tags={','.join(tags)}"),
        "2>&1); rc=$?;",
        f'printf "%s\\n" "$out" | {REDACT_KEYS}; exit $rc',
    )

