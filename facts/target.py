"""What the deploy knows about the Mac it is running against, read once per host.

The first call validates the host's data as pyinfra merged it (inventory, group
data, ``--data``) before any fact is read, so a typo stops the deploy before
its first operation, whatever the inventory file looks like. Tasks call
``current()`` rather than reading facts again: each fact is a round trip over SSH.

.. code:: python

    mac = current()
    mac.layout.plist_path("ollama")
    mac.tailscale_cli  # /opt/homebrew/bin/tailscale, or the app's CLI
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from pyinfra import host

from facts.macos import MacHost, PathsExist
from facts.ollama_models import OllamaModels, OllamaModelsInfo
from facts.once import read
from facts.tailscale import TailscaleStatus
from private_ollama.desired_state.files import Tailnet
from private_ollama.desired_state.layout import MacLayout
from private_ollama.desired_state.settings import Settings

TAILSCALE_APP = "/Applications/Tailscale.app"
TAILSCALE_APP_CLI = f"{TAILSCALE_APP}/Contents/MacOS/Tailscale"

# Per pyinfra State (a deploy run), per host name.
_cache: weakref.WeakKeyDictionary[Any, dict[str, Target]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Target:
    settings: Settings
    mac: dict[str, Any]
    layout: MacLayout
    tailscale_app: bool  # the Tailscale app is installed: use its CLI, not the formula
    homebrew_present: bool

    @property
    def tailscale_cli(self) -> str:
        return TAILSCALE_APP_CLI if self.tailscale_app else self.layout.brew_bin("tailscale")

    @property
    def formulae(self) -> list[str]:
        """Homebrew formulae the deploy installs (the app and the formula conflict)."""
        return ["ollama", "haproxy"] + ([] if self.tailscale_app else ["tailscale"])

    def tailnet(self) -> Tailnet | None:
        """The Mac's Tailscale address and MagicDNS name, read now; None until it has them."""
        status = read(TailscaleStatus, cli=self.tailscale_cli)
        if status["backend_state"] == "Running" and status["ipv4"] and status["dns_name"]:
            return Tailnet(ip=status["ipv4"], dns_name=status["dns_name"])
        return None

    @property
    def models_read(self) -> dict[str, Any]:
        """The arguments of the one ``OllamaModels`` read that preflight, the tasks and the model operations share."""
        return {
            "port": self.settings.ollama_port,
            "models_dir": self.layout.models_dir,
            "manifests": {model.shortest: model.manifest_url for model in self.settings.declared_models},
            "refresh": self.settings.ollama_models_update,
        }

    def models(self) -> OllamaModelsInfo:
        """What the Mac's Ollama holds (read once while planning, afresh while applying)."""
        return read(OllamaModels, **self.models_read)

    @property
    def rolling_args(self) -> dict[str, Any]:
        """For operations that restart or reload a service: in a pool, one member at a time, so the pool serves on."""
        return {"_serial": True} if self.settings.proxy_pool else {}

    @property
    def root_args(self) -> dict[str, Any]:
        """Global arguments for operations that touch the launchd domain and its plists."""
        return {"_sudo": True} if self.layout.needs_root else {}

    @property
    def plist_owner(self) -> dict[str, str]:
        if self.layout.needs_root:
            return {"user": "root", "group": "wheel"}
        return {"user": self.layout.user}


def current() -> Target:
    """The validated settings and the Mac's facts for the host being deployed."""
    targets = _cache.setdefault(host.state, {})
    if host.name not in targets:
        settings = Settings.from_data(host.data.dict(), host=host.name)
        # Every later command and fact finds Homebrew (set before the first read; other variables kept).
        host.data._env = {**(host.data.get("_env") or {}), "PATH": settings.remote_path}
        mac = read(MacHost)
        layout = MacLayout(settings, user=mac["user"] or "", uid=mac["uid"] or -1, home=mac["home"] or "")
        brew = layout.brew_bin("brew")
        exists = read(PathsExist, paths=[TAILSCALE_APP, brew])
        targets[host.name] = Target(
            settings, mac, layout, tailscale_app=exists[TAILSCALE_APP], homebrew_present=exists[brew],
        )
    return targets[host.name]
