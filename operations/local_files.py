"""Files written on the admin laptop, as part of the desired state."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
from pyinfra import host
from pyinfra.api import FunctionCommand, operation


@operation()
def written(directory: str, render: Callable[[], dict[str, str] | None]):
    """
    Keep local files (on the machine running pyinfra) at the rendered content.

    + directory: where the files go; relative paths are from the current directory
    + render: returns {file name: text}, or None while it cannot render yet; it is
      called when the operation runs, so it sees what earlier operations changed

    Writes, and prints, only files whose content differs: a converged run plans
    nothing, and a dry run writes nothing.

    **Example:**

    .. code:: python

        local_files.written(
            name="Ensure the client settings are written locally",
            directory="build/clients/mac-studio",
            render=lambda: {"client-settings.md": "..."},
        )
    """
    wanted = render()
    if wanted is None:
        host.noop("nothing to write until Tailscale has an address")
        return
    stale = {
        name: text for name, text in wanted.items()
        if not (Path(directory) / name).is_file() or (Path(directory) / name).read_text() != text
    }
    if not stale:
        host.noop(f"{directory} is up to date")
        return
    yield FunctionCommand(_write, (directory, stale), {})


def _write(directory: str, files: dict[str, str]) -> None:
    Path(directory).mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = Path(directory) / name
        path.write_text(text)
        click.echo(f"--> Wrote {path}:\n\n{text}", err=True)
