"""registry.ollama.ai inside each lab host: the registry stand-in, its name in the host's /etc/hosts, its TLS.

Every host runs ``lab/standins/ollama_registry.py`` (started by boot.py, so it
comes back after a reboot) on ``ADDRESS:443``, a loopback address of the host's
own network namespace, serving the catalogue with a certificate of the lab's CA
(lab/host/tls.py), which the host trusts: the CA is in its
``/etc/ssl/certs/ca-certificates.crt``, the bundle of curl and of Python's
default context. The host's ``/etc/hosts`` names it; ``set_reachable`` takes
the line out (``labctl registry offline``: curl exits 6, ``Could not resolve
host``, Ollama says ``dial tcp: lookup registry.ollama.ai: no such host``, and
the registry stops listening and cuts open connections) or puts it back, and
returns once the registry says (``STATE``) it has followed. The state is the
host's file, so it survives a reboot.

.. code:: python

    set_reachable(host_path(paths, host, HOSTS), host_path(paths, host, STATE), False)
"""

from __future__ import annotations

import time
from pathlib import Path

NAME = "registry.ollama.ai"
ADDRESS = "127.65.0.1"
HOSTS = "/etc/hosts"
HOSTS_LINE = f"{ADDRESS}\t{NAME}\n"
CERT = "/var/lib/lab/registry/registry.pem"  # inside the host
KEY = "/var/lib/lab/registry/registry.key"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
STATE = "/run/ollama-registry.state"  # "listening" or "offline", once it is so
WAIT_S = 5
LOG = "ollama-registry"  # /var/log/ollama-registry.log


def command(standins: str) -> list[str]:
    """How boot.py starts it, from the host's copy of the stand-ins."""
    return ["/usr/bin/python3", f"{standins}/ollama_registry.py", "--listen", f"{ADDRESS}:443", "--cert", CERT,
            "--key", KEY, "--hosts-file", HOSTS, "--state", STATE]


def set_reachable(hosts: Path, state: Path, reachable: bool) -> bool:
    """Put the registry's line in ``hosts`` or take it out, and wait until the registry listens, or has
    stopped and cut its connections (its ``state`` file says so); whether anything changed."""
    lines = hosts.read_text().splitlines(keepends=True)
    kept = [line for line in lines if line != HOSTS_LINE]
    wanted = [*kept, HOSTS_LINE] if reachable else kept
    if wanted != lines:
        staged = hosts.with_name(f"{hosts.name}.lab-new")
        staged.write_text("".join(wanted))
        staged.replace(hosts)  # nobody reads half a file
    expected = "listening\n" if reachable else "offline\n"
    deadline = time.monotonic() + WAIT_S
    while not state.exists() or state.read_text() != expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the registry stand-in did not say {expected.strip()} within {WAIT_S} s "
                               "(see the host's /var/log/ollama-registry.log)")
        time.sleep(0.05)
    return wanted != lines
