"""What the Ollama stand-in's server and CLI read alike: its version, and OLLAMA_HOST as envconfig reads it.

.. code:: python

    parse_ollama_host(env(os.environ, "OLLAMA_HOST"))   # ("127.0.0.1", 11434) when unset
"""

from __future__ import annotations

import ipaddress
import os

VERSION = "0.14.3"
USER_AGENT = f"ollama/{VERSION} (arm64 darwin) Go/go1.26.0"  # the Go client's, to the server and to registries


def env(environ: dict[str, str] | os._Environ, name: str) -> str:
    """envconfig.Var: the value without surrounding spaces and quotes."""
    return environ.get(name, "").strip().strip("\"'")


def split_host_port(value: str) -> tuple[str, str]:
    """Go's ``net.SplitHostPort``; ``ValueError`` where Go returns an error."""
    if value.startswith("["):
        end = value.find("]")
        if end < 0 or value[end + 1:end + 2] != ":":
            raise ValueError(f"bad host:port {value!r}")
        return value[1:end], value[end + 2:]
    if value.count(":") != 1:
        raise ValueError(f"missing port or too many colons in {value!r}")
    host, port = value.split(":")
    return host, port


def parse_ollama_host(value: str) -> tuple[str, int]:
    """Where ``ollama serve`` listens and the CLI connects, read as ``envconfig.Host`` reads it.

    >>> parse_ollama_host("http://127.0.0.1:18434")
    ('127.0.0.1', 18434)
    >>> parse_ollama_host(":18434")  # every address, as in Go
    ('', 18434)
    """
    text_value = value.strip()
    scheme, separator, hostport = text_value.partition("://")
    default_port = {"http": "80", "https": "443"}.get(scheme, "11434") if separator else "11434"
    if not separator:
        hostport = text_value
    hostport = hostport.split("/", 1)[0]
    try:
        host, port = split_host_port(hostport)
    except ValueError:
        host, port = "127.0.0.1", default_port
        try:
            host = str(ipaddress.ip_address(hostport.strip("[]")))
        except ValueError:
            host = hostport or host
    if not port.isdigit() or int(port) > 65535:
        port = default_port
    return host, int(port)
