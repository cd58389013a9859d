"""From an inventory to each host's validated settings: the one loader of the deploy and the admin tools.

Host data arrives three ways: the inventory's host (and group) tuples,
``group_data/*.py``, and ``--data KEY=VALUE``. pyinfra merges them (``--data``
over host data over group data) only after it has read the inventory file, and
connects right after that; so:

- ``validated_hosts``, called by an inventory file, checks every layer on its
  own while pyinfra reads the file, before anything connects: unknown keys
  (with the knob each was probably meant to be) and bad values;
- ``load`` (the admin tools) has pyinfra merge the layers and validates each
  host's merged data, before anything connects;
- the deploy validates ``host.data`` as pyinfra merged it before its first
  operation (``facts/target.py``), which covers inventories that list plain
  pyinfra tuples too.

.. code:: python

    macs = validated_hosts([("mac-studio.local", {"ssh_user": "admin"})])  # in an inventory file
    hosts = load("inventory.py", data={"proxy_api_keys": True})             # in an admin tool
    hosts[0].settings.proxy_api_keys                                        # True
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from pyinfra import context
from pyinfra.api import Inventory, State
from pyinfra.api.exceptions import InventoryError
from pyinfra.context import ctx_state
from pyinfra_cli.inventory import _get_group_data, make_inventory
from pyinfra_cli.util import parse_cli_arg

from private_ollama import PROJECT
from private_ollama.desired_state.settings import Settings, SettingsError

DEFAULT_LAB_DIR = PROJECT / ".lab"


@dataclass(frozen=True)
class Host:
    """One inventory host: its name, its data as pyinfra merged it, and the settings validated from it."""

    name: str
    data: Mapping[str, Any]
    settings: Settings

    @property
    def ssh_user(self) -> str:
        return self.data.get("ssh_user") or "admin"


def parse_data(assignments: Iterable[str]) -> dict[str, Any]:
    """``["KEY=VALUE", ...]`` read as pyinfra reads ``--data`` (true/false, numbers and JSON are typed)."""
    data = {}
    for assignment in assignments:
        key, separator, value = assignment.partition("=")
        if not separator or not key:
            raise SettingsError(f"--data {assignment!r}: write KEY=VALUE")
        data[key] = parse_cli_arg(value)
    return data


def inventory_path(inventory: str) -> str:
    """An inventory file as an absolute path (pyinfra runs from the project); hosts and connectors as given."""
    return str(Path(inventory).resolve()) if Path(inventory).is_file() else inventory


def load(inventory_file: str, data: Mapping[str, Any] | None = None) -> list[Host]:
    """Every host of ``inventory_file`` with ``data`` over its own (as ``pyinfra --data`` does), validated.

    Raises ``SettingsError`` naming the host and the key, ``InventoryError`` when there is no host.
    """
    return load_inventory(inventory_file, data)[1]


def load_inventory(inventory_file: str, data: Mapping[str, Any] | None = None) -> tuple[Inventory, list[Host]]:
    """``load``, and pyinfra's ``Inventory`` of the same hosts, for a tool that connects to them."""
    with ctx_state.use(State()):  # pyinfra's inventory loader expects a deploy state
        inventory = make_inventory(inventory_path(inventory_file), cwd=str(PROJECT), override_data=dict(data or {}))
    hosts = []
    for host in inventory:
        merged = host.data.dict()
        hosts.append(Host(host.name, merged, Settings.from_data(merged, host=host.name)))
    if not hosts:
        raise InventoryError(f"{inventory_file} lists no host")
    return inventory, hosts


def one_value(hosts: list[Host], knob: str) -> Any:
    """A knob that is one value for the whole inventory (the re-apply's interval, say); raises if hosts differ."""
    values = {host.name: getattr(host.settings, knob) for host in hosts}
    if len({repr(value) for value in values.values()}) > 1:
        listed = ", ".join(f"{name}: {value!r}" for name, value in values.items())
        raise SettingsError(f"{knob} differs between hosts ({listed}): set it once for all, in group_data/all.py")
    return next(iter(values.values()))


def validated_hosts(hosts: Iterable[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """For an inventory file: check every layer of host data while pyinfra reads the file, before it connects.

    Each host's own data, each file of the group data pyinfra is about to read, and, under the pyinfra
    CLI, its ``--data``: unknown keys and bad values, each named with where it was written. (Whether the
    layers fit together is checked once pyinfra has merged them.)
    """
    hosts = list(hosts)
    layers = [(f"host {name}", data) for name, data in hosts]
    layers += [(str(path), data) for path, data in _group_data_files()]
    layers += [("--data", _cli_data())]
    problems = [f"{where}: {problem}" for where, data in layers for problem in Settings.layer_problems(data)]
    if problems:
        raise SettingsError("\n".join(problems))
    return hosts


def _group_data_files() -> list[tuple[Path, dict[str, Any]]]:
    """The group data files pyinfra reads for this inventory, read as pyinfra reads them: the project's, the
    current folder's, the inventory file's folder's (pyinfra notes the file it is reading) and --group-data."""
    inventory_file = getattr(context.state, "current_exec_filename", None)
    folders = [PROJECT / "group_data", Path.cwd() / "group_data"]
    folders += [Path(inventory_file).parent / "group_data"] if inventory_file else []
    folders += [Path(folder) for folder in _cli_params().get("group_data") or ()]
    files = []
    for folder in dict.fromkeys(folder.resolve() for folder in folders):
        for group, data in _get_group_data(str(folder)).items():
            files.append((_shown(folder / f"{group}.py"), data))
    return files


def _cli_data() -> dict[str, Any]:
    """``pyinfra ... --data KEY=VALUE``, when the pyinfra CLI is reading this inventory."""
    return parse_data(_cli_params().get("data") or ())


def _cli_params() -> dict[str, Any]:
    """The pyinfra CLI's own options (its click context), when it is the program reading the inventory."""
    context = click.get_current_context(silent=True)
    pyinfra_cli = sys.modules.get("pyinfra_cli.cli")
    return context.params if context is not None and pyinfra_cli and context.command is pyinfra_cli.cli else {}


def _shown(path: Path) -> Path:
    return path.relative_to(PROJECT) if path.is_relative_to(PROJECT) else path


# --- The inventories this project ships: a real Mac from the environment, else the lab --------------------


def mac_from_environment() -> list[tuple[str, dict[str, Any]]] | None:
    """The Mac that ``PRIVATE_OLLAMA_MAC=user@host`` names, or None when it is not set."""
    user, _, hostname = os.environ.get("PRIVATE_OLLAMA_MAC", "").rpartition("@")
    if not hostname:
        return None
    return validated_hosts([(hostname, {"ssh_user": user or os.environ.get("USER", "admin")})])


def lab_dir() -> Path:
    return Path(os.environ.get("PRIVATE_OLLAMA_LAB_DIR") or DEFAULT_LAB_DIR).resolve()


def read_lab() -> dict[str, Any]:
    """The running lab's ``lab.json``, which ``lab/labctl up`` writes (the lab's interface: data, not code)."""
    path = lab_dir() / "lab.json"
    if not path.is_file():
        raise InventoryError(
            f"no lab is running ({path} is missing): start one with `make lab`, "
            "or deploy to a Mac with PRIVATE_OLLAMA_MAC=user@host",
        )
    return json.loads(path.read_text())


def lab_hosts() -> list[tuple[str, dict[str, Any]]]:
    """pyinfra inventory entries for the lab's hosts, reached through the lab's ssh_config."""
    lab = read_lab()
    return validated_hosts(
        (
            host["name"],
            {
                "ssh_config_file": lab["ssh_config"],
                "ssh_known_hosts_file": lab["known_hosts"],
                "ssh_strict_host_key_checking": "yes",
                "ssh_key": lab["ssh_key"],
                "ssh_user": host["ssh_user"],
                "ssh_hostname": host["ssh_hostname"],
                "ssh_port": host["ssh_port"],
                # Each lab's client files apart: several labs name their first host alike.
                "client_settings_dir": str(lab_dir() / "clients"),
                **host.get("data", {}),
            },
        )
        for host in lab["hosts"]
    )
