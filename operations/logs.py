"""Logs on the Mac kept to a size: rotated by the deploy, which needs no newsyslog
(root and /etc/newsyslog.d) and no extra job."""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.facts.files import File

from facts.once import read


@operation()
def rotated(path: str, max_bytes: int, keep: int):
    """
    Rotate a log that a running process appends to, once it is larger than ``max_bytes``.

    + path: the log file
    + max_bytes: the size above which it is rotated
    + keep: how many rotated copies to keep (``path.1`` is the newest)

    Copy, then empty in place: launchd opened the file for the job (append
    mode) and HAProxy never reopens it, so a renamed log would go on growing
    under its new name. Lines written between the copy and the emptying (a few
    milliseconds) are lost.

    **Example:**

    .. code:: python

        logs.rotated(
            name="Ensure the access log is rotated once over proxy_access_log_max_bytes",
            path="/Users/admin/Library/Logs/private-ollama/access.log",
            max_bytes=64 * 1024 * 1024,
            keep=3,
        )
    """
    log = read(File, path=path)
    if not log or log["size"] <= max_bytes:
        host.noop(f"{path} is at most {max_bytes} bytes")
        return
    quoted = shlex.quote(path)
    yield StringCommand(
        f"i={keep}; while [ $i -gt 1 ]; do j=$((i - 1));"
        f' if [ -f {quoted}.$j ]; then mv -f {quoted}.$j {quoted}.$i; fi; i=$j; done;'
        f" cp -p {quoted} {quoted}.1 && : > {quoted}",
    )
