"""private-ollama's own code, beside the pyinfra deploy that uses it.

- ``desired_state``: the desired state as data (every knob, where things live
  on the Mac, the files the deploy installs), rendered without reading the Mac.
- ``inventory``: the one loader from an inventory (and ``--data``) to each
  host's validated settings, for the deploy and the admin tools alike.
- ``commands``: the admin tools, one entry point with subcommands:
  ``python -m private_ollama render|drift|reapply|keys|status|knobs``.
"""

from pathlib import Path

# The project's root: templates/, group_data/ and the knobs' relative paths (key store, reports) are under it.
PROJECT = Path(__file__).resolve().parent.parent
