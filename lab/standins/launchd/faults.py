"""Why a launchctl request failed: a Darwin error code, plus what launchctl says about it.

Each verb words failures its own way (``Bootstrap failed: 5: Input/output
error``, ``Could not kickstart service "x": 125: ...``); a Fault carries the
code and the kind of failure, and the verb picks the wording.

.. code:: python

    raise Fault(darwin.EIO)                      # generic: "<Verb> failed: 5: Input/output error"
    raise Fault.no_domain(target)                # "Could not find domain for user gui: 501"
"""

from __future__ import annotations

from . import darwin
from .targets import Target


class Fault(Exception):
    def __init__(self, code: int, kind: str = "error", target: Target | None = None) -> None:
        super().__init__(code, kind, target)
        self.code = code
        self.kind = kind
        self.target = target

    @classmethod
    def no_domain(cls, target: Target) -> Fault:
        """A gui domain without a GUI login (or a user domain without a user): 125."""
        return cls(darwin.DOMAIN_ACTION_UNSUPPORTED, "no-domain", target)

    @classmethod
    def no_service(cls, target: Target) -> Fault:
        return cls(darwin.SERVICE_NOT_FOUND, "no-service", target)

    @property
    def strerror(self) -> str:
        return darwin.STRERROR[self.code]

    @property
    def detail(self) -> str:
        """launchctl's own sentence for a missing domain or service, else `<code>: <strerror>`."""
        if self.kind == "no-domain":
            return f"Could not find domain for {self.target.described}"
        if self.kind == "no-service":
            return f'Could not find service "{self.target.label}" in domain for {self.target.described}'
        return f"{self.code}: {self.strerror}"
