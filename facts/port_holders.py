"""Who holds a TCP port on the Mac, and which launchd job started each holder."""

from __future__ import annotations

from facts.launchd import LaunchdJobs, LaunchdService
from facts.network import TcpListeners
from facts.once import read
from facts.processes import ProcessParents


def port_holders(address: str, port: int, owner_target: str) -> list[dict]:
    """Listeners on ``port`` that are not our job, each with the launchd label that
    started it (or None when launchd did not).

    A listener counts when it could take ``address``: the same address, a
    wildcard, or another loopback spelling.
    """
    listeners = [
        listener for listener in read(TcpListeners, port=port)
        if listener["address"] in (address, "*", "0.0.0.0", "::", "::1")
    ]
    if not listeners:
        return []
    ours = (read(LaunchdService, target=owner_target) or {}).get("pid")
    parents = read(ProcessParents)
    job_by_pid = {job["pid"]: label for label, job in read(LaunchdJobs).items() if job["pid"]}
    holders = []
    for listener in listeners:
        ancestry = _ancestry(listener["pid"], parents)
        if ours in ancestry:
            continue
        label = next((job_by_pid[pid] for pid in ancestry if pid in job_by_pid), None)
        holders.append({**listener, "label": label})
    return holders


def _ancestry(pid: int, parents: dict[int, int]) -> list[int]:
    """``pid`` and its parents up to (not including) launchd, pid 1."""
    chain = []
    while pid and pid != 1 and pid not in chain:
        chain.append(pid)
        pid = parents.get(pid, 0)
    return chain
