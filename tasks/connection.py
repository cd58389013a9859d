"""The SSH connection: turn Nagle's algorithm off on it.

paramiko leaves it on, so every remote command waited about 40 ms for a delayed
ACK; without it a round trip costs a few ms (docs/benchmarks.md, section 5).
Changes nothing on the Mac.
"""

import socket

from pyinfra import host

client = getattr(host.connector, "client", None)  # only the SSH connector has one
transport = client.get_transport() if client else None
if transport is not None and isinstance(transport.sock, socket.socket):
    transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
