"""enable/disable overrides, kept in the state directory across daemon restarts.

Like launchd's /var/db/com.apple.xpc.launchd/disabled*.plist, an override
outlives the job and the daemon: a disabled label is refused by bootstrap and
skipped when a LaunchDaemons/LaunchAgents folder is loaded.

.. code:: python

    overrides = Overrides(Path("/var/db/launchd-standin/overrides.plist"))
    overrides.set("system", "com.example.watchdog", disabled=True)
    overrides.of("system")  # {"com.example.watchdog": True}
"""

from __future__ import annotations

import os
import plistlib
from pathlib import Path


class Overrides:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._by_domain: dict[str, dict[str, bool]] = plistlib.loads(path.read_bytes()) if path.exists() else {}

    def of(self, domain: str) -> dict[str, bool]:
        """label -> True when disabled, False when explicitly enabled."""
        return dict(self._by_domain.get(domain, {}))

    def disabled(self, domain: str, label: str, default: bool) -> bool:
        return self._by_domain.get(domain, {}).get(label, default)

    def set(self, domain: str, label: str, disabled: bool) -> None:
        self._by_domain.setdefault(domain, {})[label] = disabled
        temporary = self._path.with_suffix(".tmp")
        temporary.write_bytes(plistlib.dumps(self._by_domain, sort_keys=True))
        os.replace(temporary, self._path)  # never a half-written file after a crash
