"""Files only the service user reads, installed without ever showing their content."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from io import BytesIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, QuoteString, StringCommand, operation

from facts.files import FileDigests
from facts.once import read


@operation()
def installed(render: Callable[[], dict[str, str]], absent: list[str] = ()):
    """
    Keep files at their rendered content, readable by their owner only (mode 600),
    without ever printing the content; and the ``absent`` ones gone.

    + render: returns {absolute path: content}; called when the operation runs, so
      the content is never an operation argument, which pyinfra may print. Each
      file's directory must exist and be private (700), since an upload lands
      there before its mode is set.

    + absent: absolute paths that must not be there (what an earlier apply left and
      the settings no longer want), unless ``render`` names them

    Unlike ``files.put``, no ``--diff`` shows a content (the API key hashes), a
    change is found by SHA-1, and every file is read in one round trip.

    **Example:**

    .. code:: python

        private_files.installed(
            name="Ensure HAProxy's API key hashes are installed",
            render=lambda: {"/Users/admin/.private-ollama/api-keys.map": api_key_map(settings)},
            absent=["/Users/admin/.private-ollama/pool/routes.map"],
        )
    """
    wanted = {path: content.encode() for path, content in render().items()}
    stale = [path for path in absent if path not in wanted]
    found = read(FileDigests, paths=sorted([*wanted, *stale]))
    unchanged = True
    for path in stale:
        if found.get(path) is not None:
            unchanged = False
            yield StringCommand("rm", "-f", QuoteString(path))
    for path, content in wanted.items():
        present = found.get(path)
        if present is None or present["sha1"] != hashlib.sha1(content).hexdigest():
            yield FileUploadCommand(BytesIO(content), path)
        elif present["mode"] == 600:
            continue
        unchanged = False
        yield StringCommand("chmod", "600", QuoteString(path))
    if unchanged:
        host.noop(f"{len(wanted)} file(s) up to date")
