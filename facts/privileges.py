"""Facts about what the deploy user may do on the Mac."""

from __future__ import annotations

from collections.abc import Iterable

from pyinfra.api import FactBase
from typing_extensions import override


class PasswordlessSudo(FactBase[bool]):
    """
    Returns whether the user can run sudo without a password (daemon mode needs it):

    .. code:: python

        True
    """

    @override
    def command(self) -> str:
        return "if sudo -n true 2>/dev/null; then echo yes; else echo no; fi"

    @override
    @staticmethod
    def default() -> bool:
        return False

    @override
    def process(self, output: Iterable[str]) -> bool:
        return list(output) == ["yes"]
