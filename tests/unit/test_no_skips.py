"""PRIVATE_OLLAMA_NO_SKIPS=1 (set by .ci/run) turns every skip into a failure, wherever it is
raised; unset, skips stay skips. Runs pytest on a small suite beside a copy of tests/conftest.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"
SUITE = {
    "test_in_body.py": "import pytest\ndef test_it():\n    pytest.skip('no thing')\n",
    "test_by_mark.py": "import pytest\n@pytest.mark.skipif(True, reason='marked')\ndef test_it():\n    pass\n",
    "test_in_fixture.py": ("import pytest\n@pytest.fixture\ndef needs():\n    pytest.skip('no tool')\n"
                           "def test_it(needs):\n    pass\n"),
    "test_module.py": "import pytest\npytest.importorskip('no_such_module_here')\ndef test_it():\n    pass\n",
    "test_known.py": "import pytest\n@pytest.mark.xfail(reason='known')\ndef test_it():\n    assert False\n",
}


def run_suite(tmp_path: Path, files: dict[str, str], no_skips: bool) -> subprocess.CompletedProcess:
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    env = {name: value for name, value in os.environ.items() if name != "PRIVATE_OLLAMA_NO_SKIPS"}
    if no_skips:
        env["PRIVATE_OLLAMA_NO_SKIPS"] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("name", [name for name in SUITE if name != "test_known.py"])
def test_a_skip_fails_the_run(tmp_path, name):
    done = run_suite(tmp_path, {name: SUITE[name]}, no_skips=True)
    assert done.returncode != 0
    assert "PRIVATE_OLLAMA_NO_SKIPS=1 forbids skips" in done.stdout


def test_an_expected_failure_is_not_a_skip(tmp_path):
    done = run_suite(tmp_path, {"test_known.py": SUITE["test_known.py"]}, no_skips=True)
    assert done.returncode == 0 and "1 xfailed" in done.stdout


def test_without_it_skips_stay_skips(tmp_path):
    done = run_suite(tmp_path, SUITE, no_skips=False)
    assert done.returncode == 0
    assert "4 skipped" in done.stdout and "1 xfailed" in done.stdout
