"""The floor of one remote command: ``true`` over one paramiko SSH connection, as
pyinfra runs its commands, with Nagle's algorithm on (paramiko's default) and off.

.. code:: python

    seconds = round_trips(lab, lab["hosts"][0], count=50, no_delay=True)
"""

from __future__ import annotations

import socket
import time

import paramiko


def round_trips(lab: dict, host: dict, count: int, no_delay: bool) -> list[float]:
    """Seconds of each of ``count`` ``true`` commands, one channel each, after one connect."""
    client = paramiko.SSHClient()
    client.load_host_keys(lab["known_hosts"])
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(host["ssh_hostname"], port=host["ssh_port"], username=host["ssh_user"],
                   key_filename=lab["ssh_key"], allow_agent=False, look_for_keys=False, timeout=10)
    try:
        if no_delay:
            client.get_transport().sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        seconds = []
        for _ in range(count):
            began = time.perf_counter()
            _, stdout, _ = client.exec_command("true", timeout=10)
            stdout.channel.recv_exit_status()
            seconds.append(time.perf_counter() - began)
        return seconds
    finally:
        client.close()
