"""Facts about the network as the Mac sees it: who listens on a TCP port."""

from __future__ import annotations

from typing import TypedDict

from pyinfra import logger
from pyinfra.api import FactBase
from typing_extensions import override

from facts import split_exit_status, with_exit_status

# lsof exits 1 when no file matches, printing nothing: that is an answer.
_NOTHING_MATCHED = 1


class TcpListener(TypedDict):
    pid: int
    command: str
    address: str
    port: int


class TcpListeners(FactBase[list[TcpListener]]):
    """
    Every socket listening on a TCP port, one entry per socket (a dual-stack
    server shows twice). ``address`` is ``*`` for a wildcard (0.0.0.0, ``[::]``
    and macOS's dual-stack ``tcp46`` alike) and IPv6 without brackets.
    ``command`` is as lsof prints it: truncated, spaces as ``\\x20``. Without
    root lsof lists only the caller's own processes: use ``_sudo=True`` to see
    a port held by another user or by a LaunchDaemon.

    + port: the TCP port

    .. code:: python

        [
            {"pid": 921, "command": "ollama", "address": "127.0.0.1", "port": 11434},
            {"pid": 1022, "command": "haproxy", "address": "100.101.102.103", "port": 11434},
        ]
    """

    @override
    def command(self, port: int) -> str:
        port = int(port)
        if not 0 < port < 65536:
            raise ValueError(f"{port} is not a TCP port")
        return with_exit_status(f"lsof -nP -iTCP:{port} -sTCP:LISTEN -F pcn")

    default = list

    @override
    def process(self, output: list[str]) -> list[TcpListener]:
        split = split_exit_status(output, "TcpListeners")
        if split is None:
            return []
        lines, status = split
        if status not in (0, _NOTHING_MATCHED):
            logger.warning(f"TcpListeners: lsof exited with status {status}: {lines[:1]!r}")
            return []

        # -F prints one field a line: p (pid) opens a process set, c its command;
        # f (fd, only from lsof < 4.95) opens a file set, n its name.
        listeners: list[TcpListener] = []
        pid, command = None, ""
        for line in lines:
            field, value = line[:1], line[1:]
            if field == "p" and value.isdigit():
                pid = int(value)
            elif field == "c":
                command = value
            elif field == "f":
                continue
            elif field == "n" and pid is not None and _is_listening_name(value):
                address, _, port = value.rpartition(":")
                listeners.append(
                    TcpListener(pid=pid, command=command, address=address.strip("[]"), port=int(port))
                )
            else:
                logger.warning(f"TcpListeners: could not parse line {line!r}")
        return listeners


def _is_listening_name(name: str) -> bool:
    """``127.0.0.1:11434``, ``*:11434``, ``[::1]:11434``; not a connection (``a->b``)."""
    address, _, port = name.rpartition(":")
    return bool(address) and port.isdigit() and "->" not in name
