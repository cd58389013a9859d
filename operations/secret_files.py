"""Files whose content must never be shown: not in a diff, not in an argument."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from io import BytesIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, QuoteString, StringCommand, operation
from pyinfra.facts.files import File, Sha1File

from facts.once import read


@operation()
def secret_file(path: str, render: Callable[[], str]):
    """
    Keep a file at the rendered content, readable by its owner only (mode 600),
    without ever printing the content.

    + path: the file on the host; its directory must exist and be private (700),
      since the upload lands there before its mode is set
    + render: returns the content; called when the operation runs, so the content
      is never an operation argument, which pyinfra may print

    Unlike ``files.put``, no ``--diff`` shows the content: a change is found by
    SHA-1 and the content goes over as an upload.

    **Example:**

    .. code:: python

        secret_files.secret_file(
            name="Ensure HAProxy's API key hashes are installed",
            path="/Users/admin/.private-ollama/api-keys.map",
            render=lambda: api_key_map(settings),
        )
    """
    content = render().encode()
    if read(Sha1File, path=path) != hashlib.sha1(content).hexdigest():
        yield FileUploadCommand(BytesIO(content), path)
    elif read(File, path=path)["mode"] == 600:
        host.noop(f"{path} is up to date")
        return
    yield StringCommand("chmod", "600", QuoteString(path))
