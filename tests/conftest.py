"""Suite-wide rules.

A skip is how a test says "this machine cannot run me" (not root, no haproxy,
no IPv6). On CI, a machine set up by `.ci/run` can run everything, so there a
skip means something is missing and must fail the run:
``PRIVATE_OLLAMA_NO_SKIPS=1 make test`` turns every skip into a failure.
"""

from __future__ import annotations

# pyinfra_cli patches the standard library for gevent when it is imported (its __init__), and the suite
# imports it (the deploy's in-process plans, the admin tools' inventory loader). Patched halfway, after the
# client libraries took the real thread pool queue, a pool worker greenlet blocks the whole process on it:
# patch first, as pyinfra's own CLI does, so that every module sees the same primitives.
from gevent import monkey

monkey.patch_all()

import os  # noqa: E402

import pytest  # noqa: E402

NO_SKIPS = os.environ.get("PRIVATE_OLLAMA_NO_SKIPS") == "1"
LAB_TIMEOUT_S = 900  # a test marked `lab` boots hosts and deploys in its fixtures; others get pyproject's 300 s


def pytest_collection_modifyitems(items):
    for item in items:
        if item.get_closest_marker("lab") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(LAB_TIMEOUT_S))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if NO_SKIPS and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped, and PRIVATE_OLLAMA_NO_SKIPS=1 forbids skips: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """The same for a whole module skipped while collecting (pytest.importorskip, allow_module_level)."""
    outcome = yield
    report = outcome.get_result()
    if NO_SKIPS and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped while collecting, and PRIVATE_OLLAMA_NO_SKIPS=1 forbids skips: {report.longrepr}"
