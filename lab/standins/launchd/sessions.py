"""Who has a GUI login: the lab's stand-in for the loginwindow/Aqua session.

The file lists UIDs, one per line (blank lines and `#` comments ignored). The
lab "logs a user in" by adding their UID and "out" by removing it.

.. code:: python

    gui_session_uids(Path("/var/db/launchd-standin/gui-sessions"))  # {501}
"""

from __future__ import annotations

from pathlib import Path


def gui_session_uids(path: Path) -> set[int]:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return set()
    return {int(line) for line in (raw.split("#")[0].strip() for raw in lines) if line.isdigit()}
