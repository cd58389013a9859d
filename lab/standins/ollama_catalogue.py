"""The models registry.ollama.ai has in the lab: real names, layers, sizes and digests.

Each model's manifest is rebuilt byte for byte as the registry sends it (compact
JSON in ``manifest.Manifest``'s key order, no trailing newline), so its SHA-256
is the model's real ID (``ollama list``'s first 12 hex) and its size, the layers
plus the config, is what ``/api/tags`` says. The layers come from public pulls
of these tags (notes: Ollama's sources, section 8); a tag that moves in the real
registry stays where it was seen here.

A blob's bytes cannot be the real ones (their SHA-256 would have to be the
digest): the config blob is JSON shaped like the real one (``model_format``,
``model_family``, ``model_type``, ``file_type``, ``rootfs``) padded with
spaces to its size, every other blob a filler of its size that names it.

.. code:: python

    model = find("library/llama3.2", "latest")
    model.manifest()[:16]                    # b'{"schemaVersion"'
    hashlib.sha256(model.manifest()).hexdigest()[:12], model.size  # ('a80c4f17acd5', 2019393189)
    blob_bytes("sha256:34bb5ab01051...", 0, 20)                    # the config's first 20 bytes
"""

from __future__ import annotations

import json
from dataclasses import dataclass

MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_MEDIA_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_MEDIA_TYPE = "application/vnd.ollama.image."


@dataclass(frozen=True)
class Layer:
    kind: str  # model, template, system, license, params; "config" for the manifest's config
    digest: str  # sha256:<64 hex>
    size: int

    @property
    def media_type(self) -> str:
        return CONFIG_MEDIA_TYPE if self.kind == "config" else LAYER_MEDIA_TYPE + self.kind

    def descriptor(self) -> dict:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class Model:
    repository: str  # "library/llama3.2"
    tags: tuple[str, ...]  # every tag that names this manifest
    layers: tuple[Layer, ...]  # in the manifest's (and the pull's) order
    config: Layer
    family: str
    parameter_size: str  # the config's model_type
    quantization: str  # the config's file_type

    def manifest(self) -> bytes:
        """The manifest as the registry sends it."""
        value = {"schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPE, "config": self.config.descriptor(),
                 "layers": [layer.descriptor() for layer in self.layers]}
        return json.dumps(value, separators=(",", ":")).encode()

    @property
    def size(self) -> int:
        return sum(layer.size for layer in self.layers) + self.config.size

    @property
    def names(self) -> list[str]:
        """``llama3.2:latest``, ``llama3.2:3b``: the names Ollama lists it by (library models only)."""
        return [f"{self.repository.removeprefix('library/')}:{tag}" for tag in self.tags]

    def config_blob(self) -> bytes:
        """A config like the registry's: the model's format, family, type and file type, the layers' diff_ids
        (as many as fit), padded with spaces to the config's size."""
        ids = [layer.digest for layer in self.layers]
        while True:
            value = {"model_format": "gguf", "model_family": self.family, "model_families": [self.family],
                     "model_type": self.parameter_size, "file_type": self.quantization, "architecture": "amd64",
                     "os": "linux", "rootfs": {"type": "layers", "diff_ids": ids}}
            written = json.dumps(value, separators=(",", ":")).encode()
            if len(written) <= self.config.size:
                return written.ljust(self.config.size, b" ")
            ids = ids[:-1]


def _layer(kind: str, digest: str, size: int) -> Layer:
    return Layer(kind, f"sha256:{digest}", size)


# Blobs that several models share (a license, a system prompt, a params file).
QWEN_SYSTEM = _layer("system", "66b9ea09bd5b7099cbb4fc820f31b575c0366fa439b08245566692c6784e281e", 68)
QWEN_TEMPLATE = _layer("template", "1e65450c30670713aa47fe23e8b9662bdf4065e81cc8e3cbfaa98924fcc0d320", 1615)
QWEN_LICENSE = _layer("license", "832dd9e00a68dd83b3c3fb9f5588dad7dcf337a0db50f7d9483f310cd292e92e", 11343)
LLAMA_PARAMS = _layer("params", "56bb8bd477a519ffa694fc449c2413c6f0e1d3b1c88fa7e3c9d88d3ae49d4dcb", 96)

CATALOGUE: tuple[Model, ...] = (
    Model("library/llama3.2", ("latest", "3b"), (
        _layer("model", "dde5aa3fc5ffc17176b5e8bdc82f587b24b2678c6c66101bf7da77af9f7ccdff", 2019377376),
        _layer("template", "966de95ca8a62200913e3f8bfbf84c8494536f1b94b49166851e76644e966396", 1429),
        _layer("license", "fcc5a6bec9daf9b561a68827b67ab6088e1dba9d1fa2a50d7bbcc8384e0a265d", 7711),
        _layer("license", "a70ff7e570d97baaf4e62ac6e6ad9975e04caa6d900d3742d37698494479e0cd", 6016),
        LLAMA_PARAMS),
        _layer("config", "34bb5ab01051a11372a91f95f3fbbc51173eed8e7f13ec395b9ae9b8bd0e242b", 561),
        "llama", "3.2B", "Q4_K_M"),
    Model("library/qwen2.5-coder", ("7b", "latest"), (
        _layer("model", "60e05f2100071479f596b964f89f510f057ce397ea22f2833a0cfe029bfc2463", 4683074048),
        QWEN_SYSTEM, QWEN_TEMPLATE, QWEN_LICENSE),
        _layer("config", "d9bb33f2786931fea42f50936a2424818aa2f14500638af2f01861eb2c8fb446", 487),
        "qwen2", "7.6B", "Q4_K_M"),
    Model("library/qwen2.5-coder", ("32b",), (
        _layer("model", "ac3d1ba8aa77755dab3806d9024e9c385ea0d5b412d6bdf9157f8a4a7e9fc0d9", 19851336384),
        QWEN_SYSTEM, QWEN_TEMPLATE, QWEN_LICENSE),
        _layer("config", "f0676bd3c336a0f995e270c5e2c80ce09aa5cfcab0c59ff574088eca52da32ee", 488),
        "qwen2", "32.8B", "Q4_K_M"),
    Model("library/nomic-embed-text", ("latest",), (
        _layer("model", "970aa74c0a90ef7482477cf803618e776e173c007bf957f635f1015bfcfef0e6", 274290656),
        _layer("license", "c71d239df91726fc519c6eb72d318ec65820627232b2f796219e87dcf35d0ab4", 11357),
        _layer("params", "ce4a164fc04605703b485251fe9f1a181688ba0eb6badb80cc6335c0de17ca0d", 17)),
        _layer("config", "31df23ea7daa448f9ccdbbcecce6c14689c8552222b80defd3830707c0139d4f", 420),
        "nomic-bert", "137M", "F16"),
    Model("library/llama3.1", ("8b", "latest"), (
        _layer("model", "667b0c1932bc6ffc593ed1d03f895bf2dc8dc6df21db3042284a6f4416b06a29", 4920738944),
        _layer("template", "948af2743fc78a328dcb3b0f5a31b3d75f415840fdb699e8b1235978392ecf85", 1481),
        _layer("license", "0ba8f0e314b4264dfd19df045cde9d4c394a52474bf92ed6a3de22a4ca31a177", 12320),
        LLAMA_PARAMS),
        _layer("config", "455f34728c9b5dd3376378bfb809ee166c145b0b4c1f1a6feca069055066ef9a", 487),
        "llama", "8.0B", "Q4_K_M"),
    Model("library/gemma3", ("latest", "4b"), (
        _layer("model", "aeda25e63ebd698fab8638ffb778e68bed908b960d39d0becc650fa981609d25", 3338792448),
        _layer("template", "e0a42594d802e5d31cdc786deb4823edb8adff66094d49de8fffe976d753e348", 358),
        _layer("license", "dd084c7d92a3c1c14cc09ae77153b903fd2024b64a100a0cc8ec9316063d2dbc", 8432),
        _layer("params", "3116c52250752e00dd06b16382e952bd33c34fd79fc4fe3a5d2c77cf7de1b14b", 77)),
        _layer("config", "b6ae5839783f2ba248e65e4b960ab15f9c4b7118db285827dba6cba9754759e2", 489),
        "gemma3", "4.3B", "Q4_K_M"),
    Model("library/deepseek-r1", ("7b",), (
        _layer("model", "96c415656d377afbff962f6cdb2394ab092ccbcbaab4b82525bc4ca800fe8a49", 4683073184),
        _layer("template", "369ca498f347f710d068cbb38bf0b8692dd3fa30f30ca2ff755e211c94768150", 387),
        _layer("license", "6e4c38e1172f42fdbff13edf9a7a017679fb82b0fde415a3e8b3c31c6ed4a4e4", 1065),
        _layer("params", "f4d24e9138dd4603380add165d2b0d970bef471fac194b436ebd50e6147c6588", 148)),
        _layer("config", "40fb844194b25e429204e5163fb379ab462978a262b86aadd73d8944445c09fd", 487),
        "qwen2", "7.6B", "Q4_K_M"),
)  # fmt: skip


def find(repository: str, tag: str) -> Model | None:
    """The model a manifest request names (``library/llama3.2``, ``latest``), exactly as spelled."""
    return next((model for model in CATALOGUE if model.repository == repository and tag in model.tags), None)


def named(name: str) -> Model:
    """The library model ``name`` (``llama3.2:latest``); KeyError when the catalogue has none."""
    found = next((model for model in CATALOGUE if name in model.names), None)
    if found is None:
        raise KeyError(name)
    return found


def blob(repository: str, digest: str) -> tuple[Model, Layer] | None:
    """A blob of one of the repository's models, as the registry serves it only under that repository."""
    return next(((model, layer) for model in CATALOGUE if model.repository == repository
                 for layer in (*model.layers, model.config) if layer.digest == digest), None)


def blob_bytes(model: Model, layer: Layer, start: int, stop: int) -> bytes:
    """Bytes ``start`` to ``stop`` (exclusive) of a blob."""
    if layer.kind == "config":
        return model.config_blob()[start:stop]
    unit = f"lab registry stand-in: {layer.kind} blob {layer.digest}\n".encode()
    first = start - start % len(unit)
    return (unit * ((stop - first) // len(unit) + 1))[start - first:stop - first]
