"""Exact bytes on the wire: raw HTTP/1.1 requests and the responses to them.

Adversarial requests need bytes no client library would send, so these helpers
build and send them by hand and read back every response until the server
closes or goes quiet.

.. code:: python

    raw = request("GET", "/api/tags", host="remote-ollama", marker="m1")
    [response] = exchange(port, raw, expect=1)
    assert response.status == 200
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from dataclasses import dataclass

MARKER_HEADER = "X-Test-Marker"


def new_marker() -> str:
    """A value unique to one request, to find it (or not) in the stand-in's record."""
    return uuid.uuid4().hex


def request(method: str, target: str, host: str | None, marker: str, body: bytes = b"",
            headers: tuple[str, ...] = ()) -> bytes:
    """A well-formed HTTP/1.1 request; Content-Length is added when there is a body."""
    lines = [f"{method} {target} HTTP/1.1"]
    lines += [f"Host: {host}"] if host is not None else []
    lines += [f"{MARKER_HEADER}: {marker}", *headers]
    lines += [f"Content-Length: {len(body)}"] if body else []
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


def exchange(port: int, raw: bytes, expect: int | None = None, head_only: bool = False,
             quiet: float = 2.0, address: str = "127.0.0.1", source: str | None = None) -> list[Response]:
    """Send ``raw`` to address:port (from ``source`` when given); return the responses read once ``expect``
    are complete, or else all of them until the server closes (or stays quiet for ``quiet`` seconds)."""
    data = b""
    with socket.create_connection((address, port), timeout=quiet,
                                  source_address=(source, 0) if source else None) as connection:
        connection.sendall(raw)
        try:
            while chunk := connection.recv(65536):
                data += chunk
                if expect is not None and len(parse_responses(data, head_only)) >= expect:
                    break
        except (TimeoutError, ConnectionResetError):
            pass  # a server that keeps the connection open, or resets it after answering
    return parse_responses(data, head_only)


def parse_responses(data: bytes, head_only: bool = False) -> list[Response]:
    """The complete responses in a byte stream (bodies sized by Content-Length; none for HEAD)."""
    responses = []
    while True:
        head, separator, rest = data.partition(b"\r\n\r\n")
        if not separator:
            return responses
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {name.strip().lower(): value.strip()
                   for name, _, value in (line.partition(":") for line in header_lines)}
        length = 0 if head_only else int(headers.get("content-length", "0"))
        if len(rest) < length:
            return responses
        responses.append(Response(int(status_line.split()[1]), headers, rest[:length]))
        data = rest[length:]


def send_then_settle(port: int, raw: bytes, host: str) -> bytes:
    """Send ``raw``, then a harmless ``GET /api/version`` on the same connection; read until
    Ollama's answer to it arrives or the connection closes, and return every byte read.

    HTTP/1.1 answers in order, so by then whatever HAProxy made of ``raw`` (anything
    smuggled inside it included) has been handled, and the stand-in's record is final.
    """
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(raw)
        try:
            connection.sendall(f"GET /api/version HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            while (chunk := connection.recv(65536)) and b'{"version":' not in (data := data + chunk):
                # Answered: if nothing follows, HAProxy is draining a refused body that swallowed the sentinel.
                connection.settimeout(0.5)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # HAProxy closed the connection after refusing ``raw``, or drains its body
    return data


def timed_lines(response) -> list[tuple[int, bytes]]:
    """(arrival time in ns, line) for each line of a streamed ``http.client`` response, as it arrives."""
    lines = []
    while line := response.readline():
        lines.append((time.time_ns(), line))
    return lines

