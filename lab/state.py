"""What a running lab looks like from the admin side: read from the lab.json
that `lab/labctl up` writes.

.. code:: python

    lab = read_lab()          # {"hosts": [...], "ssh_config": ..., ...}
    hosts = lab_hosts()       # pyinfra inventory entries, validated
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pyinfra.api.exceptions import InventoryError

from desired_state.inventory import validated_hosts

ROOT = Path(__file__).resolve().parent.parent


def lab_dir() -> Path:
    return Path(os.environ.get("PRIVATE_OLLAMA_LAB_DIR", ROOT / ".lab")).resolve()


def read_lab() -> dict[str, Any]:
    path = lab_dir() / "lab.json"
    if not path.is_file():
        raise InventoryError(f"no lab is running ({path} is missing): start one with `make lab` or `lab/labctl up`")
    return json.loads(path.read_text())


def lab_hosts() -> list[tuple[str, dict[str, Any]]]:
    """pyinfra inventory entries for the lab's hosts, reached through the lab's ssh_config."""
    lab = read_lab()
    return validated_hosts(
        (
            host["name"],
            {
                "ssh_config_file": lab["ssh_config"],
                "ssh_known_hosts_file": lab["known_hosts"],
                "ssh_strict_host_key_checking": "yes",
                "ssh_key": lab["ssh_key"],
                "ssh_user": host["ssh_user"],
                "ssh_hostname": host["ssh_hostname"],
                "ssh_port": host["ssh_port"],
                # Each lab's client files apart: several labs name their first host alike.
                "client_settings_dir": str(lab_dir() / "clients"),
                **host.get("data", {}),
            },
        )
        for host in lab["hosts"]
    )
