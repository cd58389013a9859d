"""The Ollama stand-in's model store: Ollama's folder layout under OLLAMA_MODELS, read and written as Ollama does.

    <models>/manifests/<host>/<namespace>/<model>/<tag>   the registry's manifest bytes, as pulled
    <models>/blobs/sha256-<64 hex>                         each layer and the config
    <models>/blobs/sha256-<64 hex>-partial[-<N>]           a download in progress (see ollama_pull)

The folder is ``OLLAMA_MODELS`` (spaces and quotes trimmed, as envconfig reads
it), else ``$HOME/.ollama/models``; nothing is made before it is needed, then
every lookup of ``manifests/`` or ``blobs/`` makes it (0755), as Ollama's
``manifest.Path`` and ``BlobsPath`` do, and a failure says
``mkdir <path>: permission denied: ensure path elements are traversable``.

A model is its manifest file: its digest is the SHA-256 of the file's bytes
(``ollama list``'s ID is the first 12 hex), its size the layers plus the
config, its time the file's mtime, its details the config blob's JSON
(``model_format``, ``model_family``, ``model_type``, ``file_type``). A name is
``[host/][namespace/]model[:tag]`` with Ollama's defaults and part rules, and
is looked up in any case, adopting the store's casing (``getExistingName``).
Blobs keep their real sizes (``st_size``) but need not hold their bytes: a pull
writes them sparse. ``ollama serve`` prunes at start (``prune``) as Ollama does.

.. code:: python

    store = Store(models_dir(os.environ))
    model = store.find("LLAMA3.2")          # Installed(name=Name(..., model="llama3.2", tag="latest"), ...)
    model.digest[:12], model.size           # ("a80c4f17acd5", 2019393189)
    store.details(model)["family"]          # "llama"
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime

DEFAULT_HOST, DEFAULT_NAMESPACE, DEFAULT_TAG, DEFAULT_SCHEME = "registry.ollama.ai", "library", "latest", "https"
MISSING = "!MISSING!"  # a part a separator promised but the name left empty: never valid
DIGEST = re.compile(r"sha256[:-][0-9a-fA-F]{64}")
PRUNE_GRACE_S = 3600  # layerPruneGracePeriod: a partial download survives a restart for an hour


class StoreError(Exception):
    """A failure with Ollama's wording, e.g. ``invalid digest format``."""


def models_dir(environ: dict[str, str] | os._Environ) -> str:
    """``envconfig.Models``: OLLAMA_MODELS, else $HOME/.ollama/models."""
    configured = environ.get("OLLAMA_MODELS", "").strip().strip("\"'")
    return configured or os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".ollama", "models")


def go_time(ns: int) -> str:
    """A time as Go's ``time.Time`` marshals it in the local zone: RFC 3339, nanoseconds without trailing
    zeros, ``Z`` for UTC (``2025-05-04T17:37:44.706015396-07:00``, ``2026-12-03T12:00:00.5Z``)."""
    seconds, fraction = divmod(ns, 10**9)
    local = datetime.fromtimestamp(seconds).astimezone()
    offset = local.strftime("%z")
    zone = "Z" if offset in ("+0000", "-0000") else f"{offset[:3]}:{offset[3:]}"
    digits = f"{fraction:09d}".rstrip("0")
    return local.strftime("%Y-%m-%dT%H:%M:%S") + (f".{digits}" if digits else "") + zone


# --- Names (types/model/name.go) ------------------------------------------------------------------------


def _valid_part(kind: str, part: str) -> bool:
    """``isValidPart``: a letter, digit or _ first; then also - and _, . (not in a namespace), : (host only)."""
    if not 1 <= len(part) <= (350 if kind == "host" else 80):
        return False
    allowed = {"host": "-_.:", "namespace": "-_"}.get(kind, "-_.")
    word = re.compile(r"[A-Za-z0-9_]")
    return bool(word.fullmatch(part[0])) and all(word.fullmatch(c) or c in allowed for c in part[1:])


def _cut(text: str, separator: str) -> tuple[str, str, bool]:
    """``cutPromised``: split at the last separator; an empty side is MISSING."""
    before, found, after = text.rpartition(separator)
    if not found:
        return text, "", False
    return before or MISSING, after or MISSING, True


@dataclass(frozen=True)
class Name:
    host: str
    namespace: str
    model: str
    tag: str
    scheme: str = DEFAULT_SCHEME

    @classmethod
    def parse(cls, text: str) -> Name:
        """``model.ParseName``: the parts of ``text``, the defaults where it has none (maybe not valid).

        >>> Name.parse("llama3.2").shortest, Name.parse("hf.co/org/m:q4").manifest_url
        ('llama3.2:latest', 'https://hf.co/v2/org/m/manifests/q4')
        """
        tag = model = namespace = host = scheme = ""
        if text.rfind(":") > text.rfind("/"):
            text, tag, _ = _cut(text, ":")
        text, model, promised = _cut(text, "/")
        if not promised:
            model = text
        else:
            text, namespace, promised = _cut(text, "/")
            if not promised:
                namespace = text
            else:
                scheme, found, host = text.partition("://")
                if not found:
                    scheme, host = "", text
        return cls(host or DEFAULT_HOST, namespace or DEFAULT_NAMESPACE, model, tag or DEFAULT_TAG,
                   scheme or DEFAULT_SCHEME)

    @property
    def valid(self) -> bool:
        parts = (("host", self.host), ("namespace", self.namespace), ("model", self.model), ("tag", self.tag))
        return all(_valid_part(kind, part) for kind, part in parts)

    @property
    def shortest(self) -> str:
        """``DisplayShortest``: host and namespace only where they are not the defaults."""
        if self.host.lower() != DEFAULT_HOST:
            return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"
        if self.namespace.lower() != DEFAULT_NAMESPACE:
            return f"{self.namespace}/{self.model}:{self.tag}"
        return f"{self.model}:{self.tag}"

    @property
    def parts(self) -> tuple[str, str, str, str]:
        return self.host, self.namespace, self.model, self.tag

    @property
    def manifest_url(self) -> str:
        return f"{self.scheme}://{self.host}/v2/{self.namespace}/{self.model}/manifests/{self.tag}"

    def blob_url(self, digest: str) -> str:
        return f"{self.scheme}://{self.host}/v2/{self.namespace}/{self.model}/blobs/{digest}"


# --- Models in the store -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Installed:
    """A model the store has: its manifest file's name, bytes and mtime."""

    name: Name
    data: bytes
    modified_ns: int

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def manifest(self) -> dict:
        return json.loads(self.data)

    @property
    def layers(self) -> list[dict]:
        """The layers, then the config: what a pull downloads, in its order."""
        manifest = self.manifest
        return [*(manifest.get("layers") or []), *([manifest["config"]] if manifest.get("config") else [])]

    @property
    def size(self) -> int:
        return sum(layer.get("size", 0) for layer in self.layers)

    @property
    def modified_at(self) -> str:
        return go_time(self.modified_ns)


class Store:
    def __init__(self, root: str) -> None:
        self.root = root

    def _folder(self, name: str) -> str:
        path = os.path.join(self.root, name)
        try:
            os.makedirs(path, mode=0o755, exist_ok=True)
        except OSError as error:
            raise StoreError(f"mkdir {error.filename}: {os.strerror(error.errno).lower()}: "
                             "ensure path elements are traversable") from None
        return path

    def manifests_dir(self) -> str:
        return self._folder("manifests")

    def blobs_dir(self) -> str:
        return self._folder("blobs")

    def blob_path(self, digest: str) -> str:
        if not DIGEST.fullmatch(digest):
            raise StoreError("invalid digest format")
        return os.path.join(self.blobs_dir(), digest.replace(":", "-"))

    def manifest_path(self, name: Name) -> str:
        return os.path.join(self.manifests_dir(), *name.parts)

    def installed(self) -> list[Installed]:
        """Every model, newest first (as /api/tags lists them); unreadable manifests are left out."""
        return sorted(self._read_all()[0], key=lambda model: model.modified_ns, reverse=True)

    def _read_all(self) -> tuple[list[Installed], bool]:
        """The models, and whether every manifest could be read."""
        root = self.manifests_dir()
        found, whole = [], True
        for path in glob.glob(os.path.join(glob.escape(root), "*", "*", "*", "*")):
            name = Name(*os.path.relpath(path, root).split(os.sep))
            if os.path.isdir(path) or not name.valid:
                continue
            model = self._read(name, path)
            whole = whole and model is not None
            found += [model] if model else []
        return found, whole

    @staticmethod
    def _read(name: Name, path: str) -> Installed | None:
        try:
            with open(path, "rb") as manifest:
                data = manifest.read()
                modified = os.fstat(manifest.fileno()).st_mtime_ns
            json.loads(data)
        except (OSError, ValueError):
            return None
        return Installed(name, data, modified)

    def existing_name(self, name: Name) -> Name:
        """``getExistingName``: each part in the casing of a model the store has, where one matches."""
        parts = list(name.parts)
        for model in self._read_all()[0]:
            for index, part in enumerate(model.name.parts):
                if part.lower() == parts[index].lower():
                    parts[index] = part
        return Name(*parts, name.scheme)

    def find(self, text: str) -> Installed | None:
        """The model ``text`` names, in any case; None when the store has none (or the name is not valid)."""
        name = Name.parse(text)
        if not name.valid:
            return None
        name = self.existing_name(name)
        return self._read(name, self.manifest_path(name))

    def write_manifest(self, name: Name, data: bytes) -> None:
        path = self.manifest_path(name)
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        with open(path, "wb") as manifest:
            manifest.write(data)

    def remove(self, model: Installed) -> None:
        """``Manifest.Remove`` then ``RemoveLayers``: the manifest, empty folders, blobs no other model uses."""
        os.remove(self.manifest_path(model.name))
        _prune_directory(self.manifests_dir())
        self.delete_unused({layer["digest"] for layer in model.layers})

    def delete_unused(self, digests: set[str]) -> None:
        """``deleteUnusedLayers``: remove the blobs of ``digests`` that no model's manifest names."""
        for model in self._read_all()[0]:
            digests -= {layer.get("digest") for layer in model.layers}
        for digest in digests:
            try:
                os.remove(self.blob_path(digest))
            except (OSError, StoreError):
                pass

    def prune(self) -> None:
        """What ``ollama serve`` does at start, unless OLLAMA_NOPRUNE: blobs older than an hour whose names are
        not digests (partial downloads) or that no manifest names are removed, then empty manifest folders."""
        blobs = self.blobs_dir()
        models, whole = self._read_all()
        if not whole:
            return  # "corrupt manifests detected, skipping prune operation"
        used = {layer.get("digest") for model in models for layer in model.layers}
        for entry in os.scandir(blobs):
            if entry.is_dir() or time.time() - entry.stat().st_mtime < PRUNE_GRACE_S:
                continue
            digest = entry.name.replace("-", ":", 1)
            if not DIGEST.fullmatch(entry.name) or digest not in used:
                os.remove(entry.path)
        _prune_directory(self.manifests_dir())

    def details(self, model: Installed) -> dict:
        """The api.ModelDetails of a model, from its config blob."""
        try:
            with open(self.blob_path(model.manifest["config"]["digest"]), "rb") as blob:
                config = json.load(blob)
        except (OSError, ValueError, KeyError, TypeError, StoreError):
            config = {}
        return {"parent_model": "", "format": config.get("model_format", ""), "family": config.get("model_family", ""),
                "families": config.get("model_families"), "parameter_size": config.get("model_type", ""),
                "quantization_level": config.get("file_type", "")}

    def unallocated(self) -> int:
        """Bytes the blobs declare but do not hold (sparse): room they would take on a real disk."""
        total = 0
        for entry in os.scandir(self.blobs_dir()):
            if entry.is_file():
                info = entry.stat()
                total += max(0, info.st_size - info.st_blocks * 512)
        return total


def _prune_directory(path: str) -> None:
    """``PruneDirectory``: empty folders go, ``path`` itself too."""
    if os.path.islink(path) or not os.path.isdir(path):
        return
    for entry in os.listdir(path):
        _prune_directory(os.path.join(path, entry))
    if not os.listdir(path):
        os.rmdir(path)
