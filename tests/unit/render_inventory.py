"""Two Macs for the offline render tests: nothing here is ever connected to."""

from private_ollama.inventory import validated_hosts

macs = validated_hosts([
    ("mac-a.invalid", {"ssh_user": "alice"}),
    ("mac-b.invalid", {"ssh_user": "bob", "service_mode": "daemon", "proxy_port": 8443}),
])
