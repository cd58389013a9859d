"""Inventory helpers: every host's data is validated when the inventory loads,
so a bad knob fails the run before anything connects.

.. code:: python

    macs = validated_hosts([("mac-studio.local", {"ssh_user": "admin"})])
"""

from __future__ import annotations

import runpy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from desired_state.settings import Settings, SettingsError

GROUP_DATA = Path(__file__).resolve().parent.parent / "group_data" / "all.py"


def defaults() -> dict[str, Any]:
    """The knobs of group_data/all.py, as pyinfra loads them."""
    return {key: value for key, value in runpy.run_path(str(GROUP_DATA)).items() if not key.startswith("__")}


def settings_for(data: Mapping[str, Any]) -> Settings:
    """The validated settings of a host whose inventory data is ``data``."""
    return Settings.from_data({**defaults(), **data})


def validated_hosts(hosts: Iterable[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """Check each host's data (over the defaults); raise naming the host and the key."""
    hosts = list(hosts)
    for name, data in hosts:
        try:
            settings_for(data)
        except SettingsError as error:
            raise SettingsError(f"host {name}: {error}") from None
    return hosts
