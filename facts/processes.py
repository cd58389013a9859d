"""Facts about processes on the Mac."""

from __future__ import annotations

from collections.abc import Iterable

from pyinfra import logger
from pyinfra.api import FactBase
from typing_extensions import override


class ProcessParents(FactBase[dict[int, int]]):
    """
    Returns each process id with its parent's, to find which launchd job a
    listening process belongs to (Ollama.app's server is a child of the app):

    .. code:: python

        {1: 0, 412: 1, 413: 412}
    """

    @override
    def command(self) -> str:
        return "ps -axo pid=,ppid="

    @override
    @staticmethod
    def default() -> dict[int, int]:
        return {}

    @override
    def process(self, output: Iterable[str]) -> dict[int, int]:
        parents = {}
        for line in output:
            bits = line.split()
            if len(bits) == 2 and bits[0].isdigit() and bits[1].isdigit():
                parents[int(bits[0])] = int(bits[1])
            elif line.strip():
                logger.warning(f"ProcessParents: cannot parse {line!r}")
        return parents
