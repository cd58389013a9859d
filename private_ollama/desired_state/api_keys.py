"""The clients' API keys, kept as SHA-256 hashes in a JSON file on the admin laptop.

A key is shown once, when it is made, and never stored: the store holds each
client's name and its key's hash, and the Mac gets the same hashes as an HAProxy
map (``<sha256 hex> <client name>``), mode 600. A key is 256 random bits, so a
plain SHA-256 of it can be neither reversed nor guessed.

.. code:: python

    store = KeyStore(Path("secrets/api-keys.json"))
    key = store.add("alice")   # print it once; the store keeps only its hash
    store.revoke("alice")
    haproxy_map(store.clients())  # "3b4f... alice\\n"
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from pyinfra.api.exceptions import PyinfraError

# A client's name goes into log lines and stick-table keys unquoted: keep it plain.
CLIENT_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
KEY_PREFIX = "po_"  # says what a leaked key belongs to (secret scanners match on it)


class ApiKey(str):
    """A key as ``KeyStore.add`` returns it: its repr never shows it (tracebacks,
    test reports), only ``str()`` and formatting do."""

    def __repr__(self) -> str:
        return f"ApiKey('{KEY_PREFIX}…')"


class KeyStoreError(PyinfraError, ValueError):
    """The store or a request on it is wrong; the message says how to fix it
    (a ``PyinfraError``, so that a deploy prints it rather than a traceback)."""


def key_hash(key: str) -> str:
    """The SHA-256 hex digest HAProxy computes from a presented key (``sha2(256),hex,lower``)."""
    return hashlib.sha256(key.encode()).hexdigest()


def haproxy_map(clients: dict[str, str]) -> str:
    """The map file HAProxy looks keys up in: one ``<key hash> <client name>`` line per client."""
    return "".join(f"{digest} {name}\n" for name, digest in sorted(clients.items()))


@dataclass(frozen=True)
class KeyStore:
    path: Path

    def clients(self) -> dict[str, str]:
        """{client name: key hash}; a missing store is an error, an empty one is not."""
        if not self.path.is_file():
            raise KeyStoreError(
                f"no API key store at {self.path}: make a key with `python -m private_ollama keys add NAME`, "
                "or turn proxy_api_keys off",
            )
        try:
            entries = json.loads(self.path.read_text())["clients"]
            clients = {name: entry["sha256"] for name, entry in entries.items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            raise KeyStoreError(f"{self.path} is not an API key store written by `python -m private_ollama keys`") from None
        for name, digest in clients.items():
            if not CLIENT_NAME.fullmatch(name) or not re.fullmatch(r"[0-9a-f]{64}", str(digest)):
                raise KeyStoreError(f"{self.path}: the entry of {name!r} is malformed")
        return clients

    def add(self, name: str) -> ApiKey:
        """Make a key for a new client, store its hash, and return the key (the only copy)."""
        if not CLIENT_NAME.fullmatch(name):
            raise KeyStoreError(f"{name!r} is not a client name: 1-32 of a-z 0-9 . _ -, starting with a letter or digit")
        entries = self._entries() if self.path.exists() else {}
        if name in entries:
            raise KeyStoreError(f"{name} already has a key: revoke it first (`python -m private_ollama keys revoke {name}`)")
        key = ApiKey(KEY_PREFIX + secrets.token_urlsafe(32))
        entries[name] = {"sha256": key_hash(key), "added": datetime.date.today().isoformat()}
        self._write(entries)
        return key

    def revoke(self, name: str) -> None:
        entries = self._entries()
        if name not in entries:
            raise KeyStoreError(f"no client named {name!r} in {self.path}")
        del entries[name]
        self._write(entries)

    def _entries(self) -> dict[str, dict[str, str]]:
        self.clients()  # validates
        return json.loads(self.path.read_text())["clients"]

    def _write(self, entries: dict[str, dict[str, str]]) -> None:
        """Replace the store atomically, readable by its owner only."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.new")
        temporary.unlink(missing_ok=True)  # so that it is created with mode 600
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump({"clients": dict(sorted(entries.items()))}, file, indent=2)
            file.write("\n")
        os.replace(temporary, self.path)
