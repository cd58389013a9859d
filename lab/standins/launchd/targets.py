"""launchctl's target specifiers: `system[/label]`, `gui/<uid>[/label]`, `user/<uid>[/label]`.

.. code:: python

    parse_target("gui/501/org.private-ollama.ollama")
    # Target(domain="gui/501", label="org.private-ollama.ollama")
    parse_target("gui/admin")  # None: launchctl says "Unrecognized target specifier."
"""

from __future__ import annotations

from dataclasses import dataclass

SESSION_TYPES = {"system": "System", "gui": "Aqua", "user": "Background"}


@dataclass(frozen=True)
class Target:
    domain: str
    label: str | None = None

    @property
    def kind(self) -> str:
        return self.domain.split("/")[0]

    @property
    def uid(self) -> int:
        """The domain's user: 0 for system."""
        return int(self.domain.split("/")[1]) if self.kind != "system" else 0

    @property
    def session_type(self) -> str:
        return SESSION_TYPES[self.kind]

    @property
    def described(self) -> str:
        """How launchctl names the domain in messages ("domain for user gui: 501")."""
        return {"system": "system", "gui": f"user gui: {self.uid}", "user": f"user: {self.uid}"}[self.kind]

    def service(self, label: str) -> Target:
        return Target(self.domain, label)

    def __str__(self) -> str:
        return f"{self.domain}/{self.label}" if self.label else self.domain


def parse_target(text: str) -> Target | None:
    """The target named by `text`, or None when launchctl would not recognise it."""
    parts = text.split("/")
    if parts[0] == "system":
        domain, rest = "system", parts[1:]
    elif parts[0] in ("gui", "user") and len(parts) > 1 and parts[1].isdigit():
        domain, rest = f"{parts[0]}/{int(parts[1])}", parts[2:]
    else:
        return None
    if rest in ([], [""]):
        return Target(domain)
    if len(rest) == 1:
        return Target(domain, rest[0])
    return None
