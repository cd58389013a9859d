"""The Macs to deploy to. Set PRIVATE_OLLAMA_MAC to the Mac's SSH address
(user@host), or edit the list; per-host data overrides group_data/all.py.

    PRIVATE_OLLAMA_MAC=admin@mac-studio.local pyinfra inventory.py deploy.py

Without PRIVATE_OLLAMA_MAC there is no Mac here: use the lab (`make lab`),
whose inventory is lab/inventory.py.
"""

import os

from desired_state.inventory import validated_hosts

_target = os.environ.get("PRIVATE_OLLAMA_MAC", "")
_user, _, _hostname = _target.rpartition("@")

macs = validated_hosts(
    [(_hostname, {"ssh_user": _user or os.environ.get("USER", "admin")})] if _hostname else [],
)
