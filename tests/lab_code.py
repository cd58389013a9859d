"""labctl's own modules, imported as labctl imports them (`host.*`, with lab/ on the path).

.. code:: python

    from tests.lab_code import lab_module

    lab_module("host.rootfs").hidden_paths((Path("/srv/p"),))
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

LAB = Path(__file__).resolve().parents[1] / "lab"


def lab_module(name: str) -> ModuleType:
    if str(LAB) not in sys.path:
        sys.path.append(str(LAB))  # last: lab/inventory.py must not shadow the project's
    return importlib.import_module(name)
