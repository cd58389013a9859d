"""Where everything lives on the Mac, from the settings and the deploy user.

Paths are absolute (never ``~``): pyinfra does not expand it consistently.

.. code:: python

    layout = MacLayout(settings, user="admin", uid=501, home="/Users/admin")
    layout.plist_path("ollama")  # /Users/admin/Library/LaunchAgents/org.private-ollama.ollama.plist
    layout.service_target("ollama")  # gui/501/org.private-ollama.ollama
"""

from __future__ import annotations

from dataclasses import dataclass

from private_ollama.desired_state.settings import Settings


@dataclass(frozen=True)
class MacLayout:
    settings: Settings
    user: str
    uid: int
    home: str

    @property
    def domain(self) -> str:
        """The launchd domain the services live in."""
        return f"gui/{self.uid}" if self.settings.service_mode == "agent" else "system"

    @property
    def needs_root(self) -> bool:
        """LaunchDaemons are installed and loaded as root."""
        return self.settings.service_mode == "daemon"

    @property
    def plist_dir(self) -> str:
        if self.settings.service_mode == "agent":
            return f"{self.home}/Library/LaunchAgents"
        return "/Library/LaunchDaemons"

    def plist_path(self, service: str) -> str:
        return f"{self.plist_dir}/{self.settings.label(service)}.plist"

    def service_target(self, service: str) -> str:
        return f"{self.domain}/{self.settings.label(service)}"

    @property
    def config_dir(self) -> str:
        return f"{self.home}/.private-ollama"

    @property
    def haproxy_config(self) -> str:
        return f"{self.config_dir}/haproxy.cfg"

    @property
    def pool_dir(self) -> str:
        """A pool member's routing table and the pool's listings."""
        return f"{self.config_dir}/pool"

    @property
    def errors_dir(self) -> str:
        """HAProxy's error bodies: the refusals map and the parser's errorfiles."""
        return f"{self.config_dir}/errors"

    @property
    def log_dir(self) -> str:
        return f"{self.home}/Library/Logs/private-ollama"

    def log_path(self, service: str) -> str:
        return f"{self.log_dir}/{service}.log"

    @property
    def models_dir(self) -> str:
        """Where Ollama keeps its models (OLLAMA_MODELS): the knob's folder, else Ollama's own."""
        return self.settings.ollama_models_dir or f"{self.home}/.ollama/models"

    def brew_bin(self, name: str) -> str:
        return f"{self.settings.homebrew_prefix}/bin/{name}"
