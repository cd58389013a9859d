"""A guard that refuses, and notes, every connection and name lookup beyond loopback, for the rest of
the process: run a library under it to prove it works offline.

.. code:: console

    $ python -m tests.clients.offline "import litellm"
    []          # what it tried to reach beyond loopback, as JSON, after the code ran
"""

from __future__ import annotations

import ipaddress
import json
import socket
import sys

ATTEMPTS: list[str] = []
_connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo


def _loopback(host: object) -> bool:
    if host in (None, "localhost") or not isinstance(host, str | bytes):
        return True
    name = host.decode() if isinstance(host, bytes) else host
    try:
        return ipaddress.ip_address(name.split("%")[0]).is_loopback
    except ValueError:
        return name == "localhost"


def _refuse(what: str) -> None:
    ATTEMPTS.append(what)
    raise ConnectionRefusedError(f"offline guard: {what} is beyond loopback")


def connect(self: socket.socket, address: object) -> None:
    if isinstance(address, tuple) and not _loopback(address[0]):
        _refuse(f"connect {address[0]}:{address[1]}")
    return _connect(self, address)


def connect_ex(self: socket.socket, address: object) -> int:
    if isinstance(address, tuple) and not _loopback(address[0]):
        ATTEMPTS.append(f"connect {address[0]}:{address[1]}")
        return 111  # ECONNREFUSED
    return _connect_ex(self, address)


def getaddrinfo(host: object, *arguments: object, **options: object) -> list:
    if not _loopback(host):
        ATTEMPTS.append(f"lookup {host}")
        raise socket.gaierror(socket.EAI_NONAME, f"offline guard: no lookup of {host}")
    return _getaddrinfo(host, *arguments, **options)


def install() -> None:
    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo


if __name__ == "__main__":
    install()
    exec(sys.argv[1])  # the test's own code, from its command line
    print(json.dumps(ATTEMPTS))
