"""Which keys of a host's data are pyinfra's own, asked of the installed pyinfra at run time.

Host data holds the deploy's knobs and pyinfra's keys side by side: how to
connect (``ssh_user``, ``docker_identifier``, ``winrm_*`` when that connector is
installed...) and the operation arguments every operation defaults from
(``_sudo``, ``_env``...). Both lists come from pyinfra itself, so an upgrade
that adds a key cannot make a valid inventory fail.

.. code:: python

    is_pyinfra_key("ssh_port")     # True: the ssh connector reads it
    is_pyinfra_key("_sudo")        # True: an operation argument
    is_pyinfra_key("proxy_port")   # False: a knob of ours
    closest("proxy_api_key", ["proxy_api_keys", "proxy_port"])  # "proxy_api_keys"
"""

from __future__ import annotations

import difflib
import functools

from pyinfra.api.arguments import all_global_arguments
from pyinfra.api.connectors import get_all_connectors


@functools.cache
def _pyinfra_keys() -> tuple[frozenset[str], tuple[str, ...]]:
    """(pyinfra's exact keys, the prefixes its connectors' keys start with)."""
    connectors = get_all_connectors()
    exact = {name for name, _ in all_global_arguments()}
    for connector in connectors.values():
        exact.update(getattr(connector, "data_meta", {}))
    # A connector's keys carry its name (ssh_hostname, chroot_directory, winrm_port...), also
    # the ones it reads without declaring them in data_meta.
    prefixes = tuple(f"{name}_" for name in connectors)
    return frozenset(exact), prefixes


def is_pyinfra_key(key: str) -> bool:
    exact, prefixes = _pyinfra_keys()
    return key in exact or key.startswith(prefixes)


def closest(key: str, names: list[str]) -> str | None:
    """The name ``key`` was most likely meant to be, if any is close."""
    exact, _ = _pyinfra_keys()
    candidates = [*names, *sorted(exact)] if key.startswith("_") else names
    matches = difflib.get_close_matches(key, candidates, n=1, cutoff=0.75)
    return matches[0] if matches else None
