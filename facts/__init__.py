"""pyinfra facts that read the Mac: its release, launchd, listening sockets, Tailscale.

A fact command that exits non-zero fails the host in pyinfra, so every command
here exits 0 and reports the tool's own exit status on a marker line instead.
The two helpers below are that convention, shared by the fact modules.

.. code:: python

    with_exit_status("launchctl list")  # 'launchctl list 2>&1; echo "__exit=$?"'
    split_exit_status(["Bad request.", "__exit=113"], "LaunchdService")  # (['Bad request.'], 113)
"""

from __future__ import annotations

import re

from pyinfra import logger

_EXIT_MARKER = re.compile(r"^(?P<output>.*)__exit=(?P<status>\d+)$")


def with_exit_status(command: str) -> str:
    """``command`` with its errors merged into stdout, then ``__exit=<status>`` on its own line."""
    return f'{command} 2>&1; echo "__exit=$?"'


def split_exit_status(lines: list[str], fact: str) -> tuple[list[str], int] | None:
    """The tool's output lines and exit status; None, with a warning, when the marker is missing.

    The marker shares the last line when the tool printed no final newline
    (``tailscale status --json`` does not), so it is split off that line.
    """
    match = _EXIT_MARKER.match(lines[-1]) if lines else None
    if match is None:
        logger.warning(f"{fact}: no exit status marker in output {lines[-3:]!r}")
        return None
    output = lines[:-1] + ([match["output"]] if match["output"] else [])
    return output, int(match["status"])
