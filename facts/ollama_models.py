"""What the Mac's Ollama holds, in one round trip: its models, the loaded ones, the models volume, and,
for the models the deploy may pull, the registry's manifest (their size and digest before any pull)."""

from __future__ import annotations

import base64
import json
import shlex
from typing import Any, TypedDict

from pyinfra import logger
from pyinfra.api import FactBase
from typing_extensions import override

from private_ollama.desired_state.models import MANIFEST_MEDIA_TYPE, ModelName, manifest_digest, manifest_size


class Manifest(TypedDict):
    status: int  # the registry's HTTP status; 0 when it could not be reached
    digest: str | None  # of the manifest's bytes: Ollama's digest of the model
    size: int | None  # what the pull stores


class Volume(TypedDict):
    mount: str  # the mount point of the models folder (of its nearest existing parent)
    available: int  # bytes free there


class OllamaModelsInfo(TypedDict):
    reachable: bool  # Ollama answered on loopback
    models: dict[str, dict[str, Any]]  # by ModelName.key: name, digest, size (as /api/tags lists them)
    loaded: dict[str, dict[str, Any]]  # by ModelName.key: name, size, expires_at (as /api/ps lists them)
    volume: Volume | None
    manifests: dict[str, Manifest]  # by ModelName.key, for the models asked about


class OllamaModels(FactBase[OllamaModelsInfo]):
    """
    Ollama's models and loaded models (its API on loopback), the volume of its
    models folder (``df -Pk``), and the registry manifest of each of ``manifests``
    that is not installed yet (of each of them when ``refresh``): a converged Mac
    costs one round trip and no network call. Ollama not answering reads as
    ``reachable`` False with no models: nothing is known about them yet.

    + port: Ollama's port on 127.0.0.1
    + models_dir: its models folder (OLLAMA_MODELS)
    + manifests: {model name: manifest URL} (``ModelName.shortest``, ``ModelName.manifest_url``)
    + refresh: read the manifests of installed models too (to see whether the registry moved on)

    .. code:: python

        {"reachable": True, "models": {"llama3.2:latest": {"name": "llama3.2:latest", "digest": "a80c...",
         "size": 2019393189}}, "loaded": {}, "volume": {"mount": "/", "available": 52000000000},
         "manifests": {"qwen2.5-coder:7b": {"status": 200, "digest": "dae1...", "size": 4683087561}}}
    """

    @override
    def command(self, port: int, models_dir: str, manifests: dict[str, str], refresh: bool = False) -> str:
        api = f"http://127.0.0.1:{int(port)}"
        lines = [
            f"tags=$(curl -s -m 10 {api}/api/tags 2>/dev/null | tr -d '\\n')",
            'printf "__tags %s\\n" "$tags"',
            f"printf \"__ps %s\\n\" \"$(curl -s -m 10 {api}/api/ps 2>/dev/null | tr -d '\\n')\"",
            # The nearest folder that exists: a models folder not made yet is on its parent's volume.
            f"d={shlex.quote(models_dir)}; while [ ! -e \"$d\" ]; do d=$(dirname \"$d\"); done",
            'printf "__df %s\\n" "$(df -Pk "$d" | tail -n 1)"',
        ]
        for name, url in manifests.items():
            # An installed model is in /api/tags as "name":"<shortest name>", in any case.
            listed_as = '"name":' + json.dumps(name)
            installed = f'printf "%s" "$tags" | grep -qiF {shlex.quote(listed_as)}'
            fetch = (f"t=$(mktemp); c=$(curl -s -m 10 -H 'Accept: {MANIFEST_MEDIA_TYPE}' -o \"$t\" -w '%{{http_code}}' "
                     f"{shlex.quote(url)} 2>/dev/null) || c=0; "
                     f"printf \"__manifest %s %s %s\\n\" {shlex.quote(name)} \"$c\" \"$(base64 < \"$t\" | tr -d '\\n')\";"
                     ' rm -f "$t"')
            lines.append(fetch if refresh else f"if ! {installed}; then {fetch}; fi")
        return "; ".join(lines)

    @staticmethod
    def default() -> OllamaModelsInfo:
        return OllamaModelsInfo(reachable=False, models={}, loaded={}, volume=None, manifests={})

    @override
    def process(self, output: list[str]) -> OllamaModelsInfo:
        info = self.default()
        for line in output:
            marker, _, rest = line.partition(" ")
            if marker == "__tags":
                listed = _models(rest)
                info["reachable"] = listed is not None
                info["models"] = listed or {}
            elif marker == "__ps":
                info["loaded"] = _models(rest) or {}
            elif marker == "__df":
                info["volume"] = _volume(rest)
            elif marker == "__manifest":
                name, _, answer = rest.partition(" ")
                status, _, encoded = answer.partition(" ")
                info["manifests"][ModelName.parse(name).key] = _manifest(status, encoded)
            else:
                logger.warning(f"OllamaModels: could not parse line {line[:120]!r}")
        return info


def _models(text: str) -> dict[str, dict[str, Any]] | None:
    """The models of an /api/tags or /api/ps answer by key; None when it is not one (Ollama is not up)."""
    try:
        listed = json.loads(text)["models"]
        return {ModelName.parse(model["name"]).key: model for model in listed}
    except (ValueError, KeyError, TypeError):
        return None


def _volume(line: str) -> Volume | None:
    """A ``df -Pk`` row: filesystem, 1024-blocks, used, available, capacity, mount point (which may hold spaces)."""
    fields = line.split()
    if len(fields) < 6 or not fields[3].isdigit():
        logger.warning(f"OllamaModels: could not read df's row {line!r}")
        return None
    return Volume(mount=" ".join(fields[5:]), available=int(fields[3]) * 1024)


def _manifest(status: str, encoded: str) -> Manifest:
    try:
        body = base64.b64decode(encoded, validate=True)
    except ValueError:
        body = b""
    code = int(status) if status.isdigit() else 0
    found = code == 200 and manifest_size(body) is not None
    return Manifest(status=code, digest=manifest_digest(body) if found else None,
                    size=manifest_size(body) if found else None)
