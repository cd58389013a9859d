"""The admin tools as a user runs them: ``python -m private_ollama SUBCOMMAND ...``, in a subprocess.

.. code:: python

    run = admin("render", "--out", str(tmp_path), "--example")
    assert run.returncode == 0, run.stderr
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ADMIN = [sys.executable, "-m", "private_ollama"]


def admin(*argv: str, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: float = 120,
          ) -> subprocess.CompletedProcess:
    """Run one subcommand from ``cwd`` (the package is found from the project's root wherever that is)."""
    environment = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)}
    return subprocess.run([*ADMIN, *argv], cwd=cwd, env=environment, capture_output=True, text=True,
                          timeout=timeout, check=False)
