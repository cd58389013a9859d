"""Plan a deploy in-process against canned facts, with pyinfra's @fake connector.

``plan(facts)`` runs pyinfra's prepare stage for one fake Mac whose facts are
``facts`` (a ``ConvergedMac`` with the differences a test wants) and returns
the names of the operations that would change something. Every fact the
deploy reads must be canned: an unexpected fact read fails the test.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pyinfra
from pyinfra.api import Config, State
from pyinfra.api.connect import connect_all
from pyinfra.api.state import StateStage
from pyinfra.context import ctx_config, ctx_host, ctx_inventory, ctx_state
from pyinfra_cli.inventory import make_inventory
from pyinfra_cli.util import load_deploy_file

from private_ollama.desired_state.files import (
    Tailnet,
    client_files,
    haproxy_config,
    haproxy_files,
    haproxy_job,
    ollama_job,
    plist_bytes,
)
from private_ollama.desired_state.layout import MacLayout
from private_ollama.desired_state.models import ModelName
from private_ollama.desired_state.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
HOST = "@fake/mac"
TAILNET = Tailnet(ip="100.101.102.103", dns_name="remote-ollama.tail1234.ts.net")
OLLAMA_PID, HAPROXY_PID = 4242, 4343


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def sha1(content: bytes | str) -> str:
    return hashlib.sha1(content.encode() if isinstance(content, str) else content).hexdigest()


class ConvergedMac:
    """The facts of a Mac that is already in the desired state; tests change them."""

    def __init__(self, client_dir: Path, **data: Any) -> None:
        self.data = {"client_settings_dir": str(client_dir), **data}
        self.settings = Settings.from_data(self.data)
        self.layout = MacLayout(self.settings, user="admin", uid=501, home="/Users/admin")
        layout, settings = self.layout, self.settings
        self.mac = {
            "product_name": "macOS", "product_version": "15.7.7", "build_version": "24G720", "major": 15,
            "arch": "arm64", "uid": 501, "user": "admin", "home": "/Users/admin",
        }
        self.paths = {"/Applications/Tailscale.app": False, layout.brew_bin("brew"): True}
        self.tailscale = {
            "installed": True, "daemon_running": True, "backend_state": "Running", "ipv4": TAILNET.ip,
            "ipv6": None, "dns_name": TAILNET.dns_name, "hostname": "remote-ollama", "tags": ["tag:ai-server"],
            "magicdns_suffix": "tail1234.ts.net", "peers": {}, "error": None,
        }
        self.brew = {"ollama": {"0.14.3"}, "haproxy": {"3.2.4"}, "tailscale": {"1.90.1"}}
        self.sudo = True
        # Ollama's store, the registry's manifests by model key, and the models volume.
        self.registry = {model.key: {"status": 200, "digest": sha256_of(model.shortest), "size": 2_000_000_000}
                         for model in settings.declared_models}
        self.models = {model.key: {"name": model.shortest, "digest": self.registry[model.key]["digest"],
                                   "size": 2_000_000_000} for model in settings.declared_models}
        self.loaded: dict[str, dict] = {}
        self.ollama_up = True
        self.volume = {"mount": "/", "available": 500_000_000_000}
        self.reads: list[tuple[type, str, str]] = []  # (fact, its arguments, how it ran: sudo...), in order
        self.domain = {"available": True, "error": None, "disabled": {}}
        self.files = {
            layout.plist_path("ollama"): plist_bytes(ollama_job(settings, layout)),
            layout.plist_path("haproxy"): plist_bytes(haproxy_job(settings, layout)),
            layout.haproxy_config: haproxy_config(settings, layout, TAILNET).encode(),
            **{path: text.encode() for path, text in haproxy_files(settings, layout).items()},
        }
        # pyinfra's modes are octal digits as an int
        self.file_modes = {path: 600 for path in [layout.haproxy_config, *haproxy_files(settings, layout)]}
        self.directories = {layout.config_dir: 700, layout.errors_dir: 700, layout.log_dir: 755, layout.plist_dir: 755}
        self.services = {
            layout.service_target("ollama"): {"state": "running", "pid": OLLAMA_PID, "path": layout.plist_path("ollama")},
            layout.service_target("haproxy"): {"state": "running", "pid": HAPROXY_PID, "path": layout.plist_path("haproxy")},
        }
        self.listeners = {settings.ollama_port: [{"pid": OLLAMA_PID, "command": "ollama", "address": "127.0.0.1", "port": 11434}]}
        self.parents = {OLLAMA_PID: 1, HAPROXY_PID: 1}
        self.jobs = {
            settings.label("ollama"): {"pid": OLLAMA_PID, "status": 0},
            settings.label("haproxy"): {"pid": HAPROXY_PID, "status": 0},
        }
        for name, text in client_files(settings, TAILNET).items():
            client_dir.mkdir(parents=True, exist_ok=True)
            (client_dir / HOST / name).parent.mkdir(parents=True, exist_ok=True)
            (client_dir / HOST / name).write_text(text)

    def boot_out(self, service: str) -> None:
        """The job is unloaded: launchd forgets it and its process is gone."""
        pid = self.services.pop(self.layout.service_target(service))["pid"]
        del self.jobs[self.settings.label(service)]
        for port, listeners in self.listeners.items():
            self.listeners[port] = [listener for listener in listeners if listener["pid"] != pid]

    def fact(self, name: str, kwargs: dict[str, Any]) -> Any:
        """The canned value of one fact read."""
        readers: dict[str, Callable[[], Any]] = {
            "MacHost": lambda: self.mac,
            "PathsExist": lambda: {path: self.paths[path] for path in kwargs["paths"]},
            "TailscaleStatus": lambda: self.tailscale,
            "BrewVersion": lambda: [5, 1, 15],
            "BrewPackages": lambda: self.brew,
            "PasswordlessSudo": lambda: self.sudo,
            "OllamaModels": lambda: self._ollama_models(kwargs),
            "LaunchdDomain": lambda: self.domain,
            "LaunchdService": lambda: self.services.get(kwargs["target"]),
            "LaunchdJobs": lambda: self.jobs,
            "TcpListeners": lambda: self.listeners.get(kwargs["port"], []),
            "ProcessParents": lambda: self.parents,
            "Sha1File": lambda: sha1(self.files[kwargs["path"]]) if kwargs["path"] in self.files else None,
            "File": lambda: self._file(kwargs["path"]),
            "FileDigests": lambda: {path: self._digest(path) for path in kwargs["paths"]},
            "Directory": lambda: self._directory(kwargs["path"]),
            "TmpDir": lambda: "/tmp",
        }
        if name not in readers:
            raise AssertionError(f"the deploy read a fact the test does not know: {name}({kwargs})")
        return readers[name]()

    def _file(self, path: str) -> dict | None:
        if path not in self.files:
            return None
        user, group = ("root", "wheel") if path.startswith("/Library/") else ("admin", "staff")
        return {"user": user, "group": group, "mode": self.file_modes.get(path, 644), "size": len(self.files[path])}

    def _ollama_models(self, kwargs: dict[str, Any]) -> dict:
        """What the OllamaModels fact reads: the store (when Ollama is up), and the registry's manifest of each
        asked-for model that is not installed (of each one with refresh)."""
        models = self.models if self.ollama_up else {}
        manifests = {}
        for name in kwargs["manifests"]:
            key = ModelName.parse(name).key
            if kwargs["refresh"] or key not in models:
                manifests[key] = self.registry.get(key, {"status": 404, "digest": None, "size": None})
        return {"reachable": self.ollama_up, "models": models, "loaded": self.loaded, "volume": self.volume,
                "manifests": manifests}

    def _digest(self, path: str) -> dict | None:
        if path not in self.files:
            return None
        return {"sha1": sha1(self.files[path]), "mode": self.file_modes.get(path, 644)}

    def _directory(self, path: str) -> dict | None:
        if path not in self.directories:
            return None
        return {"user": "admin", "group": "staff", "mode": self.directories[path]}


@contextmanager
def _canned(mac: ConvergedMac):
    from pyinfra.api import host as host_module

    def get_fact(state, host, cls, args=None, kwargs=None, **_):
        from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS, pop_global_arguments

        # As pyinfra does: the running operation's global arguments, overridden by the read's.
        kwargs = {**(host.current_op_global_arguments or {}), **(kwargs or {})}
        how, _ = pop_global_arguments(state, host, kwargs)
        if args:
            kwargs.update(zip(cls().command.__code__.co_varnames[1:], args, strict=False))
        runs_as = sorted((name, value) for name, value in how.items() if name in CONNECTOR_ARGUMENT_KEYS)
        mac.reads.append((cls, repr(sorted(kwargs.items())), repr(runs_as)))
        return mac.fact(cls.__name__, kwargs)

    with mock.patch.object(host_module, "get_fact", get_fact):
        yield


def plan(mac: ConvergedMac, deploy: str = "deploy.py", env: dict[str, str] | None = None) -> list[str]:
    """Names of the operations that would change something on the fake Mac."""
    return list(planned_commands(mac, deploy, env))


def planned_commands(mac: ConvergedMac, deploy: str = "deploy.py", env: dict[str, str] | None = None) -> dict[str, list[str]]:
    """The operations that would change something, each with its commands as
    pyinfra would print them (secrets masked)."""
    inventory_file = ROOT / "tests" / "unit" / "fake_inventory.py"
    os.environ["PLAN_TEST_DATA"] = repr(mac.data)
    pyinfra.is_cli = True  # local.include, which deploy.py uses, is a CLI feature
    state = State(check_for_changes=True)
    state.cwd = str(ROOT)
    config = Config()
    with mock.patch.dict(os.environ, env or {}), _canned(mac), ctx_state.use(state), ctx_config.use(config):
        inventory = make_inventory(str(inventory_file), cwd=str(ROOT))
        with ctx_inventory.use(inventory):
            state.init(inventory, config)
            state.set_stage(StateStage.Connect)
            connect_all(state)
            state.set_stage(StateStage.Prepare)
            load_deploy_file(state, str(ROOT / deploy))
            host = inventory.get_host(HOST)
            changes = {}
            for op_hash in state.get_op_order():
                op_data = state.ops[host].get(op_hash)
                if op_data and op_data.operation_meta._maybe_is_change:
                    name = next(iter(state.get_op_meta(op_hash).names)).split(" | ")[-1]  # drop "tasks/x.py | "
                    with ctx_host.use(host):
                        changes[name] = [_printable(command) for command in op_data.command_generator()]
            return changes


def _printable(command: Any) -> str:
    return command.get_masked_value() if hasattr(command, "get_masked_value") else repr(command)
