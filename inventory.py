"""The Macs to deploy to: the one PRIVATE_OLLAMA_MAC names, else the lab's.

    PRIVATE_OLLAMA_MAC=admin@mac-studio.local pyinfra inventory.py deploy.py

Without PRIVATE_OLLAMA_MAC the deploy goes to the lab (`make lab` starts it; its
hosts are read from the lab's state file), the default target for a first try.
For several Macs, list them here, with any per-host knobs
(`from private_ollama.inventory import validated_hosts`):

    macs = validated_hosts([
        ("mac-studio.local", {"ssh_user": "admin"}),
        ("mac-mini.local", {"ssh_user": "admin", "service_mode": "daemon"}),
    ])

validated_hosts checks every key and value before pyinfra connects; a plain
list of pyinfra tuples works too (the deploy then checks it before its first
operation).
"""

from private_ollama.inventory import lab_hosts, mac_from_environment

macs = mac_from_environment() or lab_hosts()
