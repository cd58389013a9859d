"""Model names as Ollama reads them, and what a registry manifest says about a model before it is pulled.

A name is ``[host/][namespace/]model[:tag]``: the host defaults to
``registry.ollama.ai``, the namespace to ``library``, the tag to ``latest``.
Ollama lists a model by its shortest spelling (``llama3.2:latest``,
``user/model:tag``, ``hf.co/org/model:tag``) and matches names in any case.

.. code:: python

    model = ModelName.parse("llama3.2")
    model.shortest                 # "llama3.2:latest": what /api/tags calls it
    model.manifest_url             # "https://registry.ollama.ai/v2/library/llama3.2/manifests/latest"
    manifest_size(manifest_bytes)  # 2019393189: the layers and the config, what /api/tags calls its size
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

DEFAULT_HOST, DEFAULT_NAMESPACE, DEFAULT_TAG = "registry.ollama.ai", "library", "latest"
# What the registry answers a manifest request with (and what Ollama asks for).
MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


@dataclass(frozen=True)
class ModelName:
    host: str
    namespace: str
    model: str
    tag: str

    @classmethod
    def parse(cls, name: str) -> ModelName:
        path, _, tag = name.partition(":")
        parts = path.split("/")
        host, namespace = DEFAULT_HOST, DEFAULT_NAMESPACE
        if len(parts) == 3:
            host, namespace, model = parts
        elif len(parts) == 2:
            namespace, model = parts
        else:
            model = parts[-1]
        return cls(host, namespace, model, tag or DEFAULT_TAG)

    @property
    def shortest(self) -> str:
        """The name as Ollama lists it: host and namespace left out where they are the defaults."""
        if self.host != DEFAULT_HOST:
            return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"
        if self.namespace != DEFAULT_NAMESPACE:
            return f"{self.namespace}/{self.model}:{self.tag}"
        return f"{self.model}:{self.tag}"

    @property
    def key(self) -> str:
        """The name to compare by: Ollama matches model names in any case."""
        return self.shortest.lower()

    @property
    def manifest_url(self) -> str:
        return f"https://{self.host}/v2/{self.namespace}/{self.model}/manifests/{self.tag}"


def manifest_digest(manifest: bytes) -> str:
    """Ollama's digest of a model (its ``ollama list`` ID is the first 12): the SHA-256 of the manifest's bytes."""
    return hashlib.sha256(manifest).hexdigest()


def manifest_size(manifest: bytes) -> int | None:
    """The bytes a pull stores: every layer and the config; None when the manifest cannot be read."""
    try:
        parsed = json.loads(manifest)
        return sum(layer["size"] for layer in parsed["layers"]) + parsed["config"]["size"]
    except (ValueError, KeyError, TypeError):
        return None


def human_bytes(size: int) -> str:
    """Decimal units, as Ollama shows sizes (``2.0 GB``, ``274 MB``)."""
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if size >= scale:
            value = size / scale
            return f"{int(value)} {unit}" if value >= 10 else f"{value:.1f} {unit}"
    return f"{size} B"
