"""The Macs to deploy to; per-host data overrides group_data/all.py.

    PRIVATE_OLLAMA_MAC=admin@mac-studio.local pyinfra inventory.py deploy.py

Without PRIVATE_OLLAMA_MAC the deploy goes to the lab (`make lab` starts it),
the default target for a first try. For several Macs, list them here:

    macs = validated_hosts([("mac-studio.local", {"ssh_user": "admin"}), ...])
"""

import os

from desired_state.inventory import validated_hosts
from lab.state import lab_hosts

_user, _, _hostname = os.environ.get("PRIVATE_OLLAMA_MAC", "").rpartition("@")

if _hostname:
    macs = validated_hosts([(_hostname, {"ssh_user": _user or os.environ.get("USER", "admin")})])
else:
    macs = lab_hosts()
