"""facts.once.read: a fact is asked of the host once while pyinfra prepares (the
whole drift check), and every time while it executes (operations change the host)."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace
from unittest import mock

import pytest
from pyinfra.api import Config
from pyinfra.api.state import StateStage

from facts import once
from facts.launchd import LaunchdService
from tests.unit.plan import ConvergedMac, plan


class FakeState:
    def __init__(self, stage: StateStage) -> None:
        self.current_stage = stage
        self.config = Config()


class FakeHost:
    """Counts the reads that reach the host; each answer is a new object. Reads made inside an
    operation carry its global arguments (``_sudo``...), as pyinfra's hosts do."""

    def __init__(self, stage: StateStage, name: str = "mac") -> None:
        self.state = FakeState(stage)
        self.name = name
        self.data = SimpleNamespace()  # no host-level defaults for global arguments
        self.current_deploy_kwargs = None
        self.current_op_global_arguments = None
        self.asked: list[tuple] = []

    def get_fact(self, fact, **arguments):
        self.asked.append((fact, arguments))
        return {"pid": len(self.asked), "args": arguments}


def reads(host: FakeHost, *calls: dict) -> list:
    with mock.patch.object(once, "host", host):
        return [once.read(LaunchdService, **arguments) for arguments in calls]


def test_while_preparing_the_same_read_reaches_the_host_once():
    host = FakeHost(StateStage.Prepare)
    first, second = reads(host, {"target": "gui/501/a"}, {"target": "gui/501/a"})
    assert len(host.asked) == 1
    assert first == second


def test_other_arguments_or_another_host_are_other_reads():
    host = FakeHost(StateStage.Prepare)
    reads(host, {"target": "gui/501/a"}, {"target": "gui/501/b"})
    other = FakeHost(StateStage.Prepare, name="mac-2")
    other.state = host.state
    reads(other, {"target": "gui/501/a"})
    assert len(host.asked) == 2 and len(other.asked) == 1


@pytest.mark.parametrize("stage", [StateStage.Execute, StateStage.Connect])
def test_outside_preparation_every_read_reaches_the_host(stage):
    host = FakeHost(stage)
    first, second = reads(host, {"target": "gui/501/a"}, {"target": "gui/501/a"})
    assert len(host.asked) == 2
    assert first["pid"] == 1 and second["pid"] == 2


def test_a_read_as_another_user_is_another_read():
    """Daemon mode: preflight reads a system job as the admin, the operation reads it with sudo."""
    host = FakeHost(StateStage.Prepare)
    reads(host, {"target": "system/a"})
    host.current_op_global_arguments = {"_sudo": True}
    reads(host, {"target": "system/a"}, {"target": "system/a"})
    assert len(host.asked) == 2


def test_a_read_inside_an_operation_without_sudo_is_the_same_read(tmp_path):
    host = FakeHost(StateStage.Prepare)
    reads(host, {"target": "gui/501/a"})
    host.current_op_global_arguments = {"_sudo": False, "_env": {}}  # pyinfra's defaults, spelled out
    reads(host, {"target": "gui/501/a"})
    assert len(host.asked) == 1


def test_a_caller_changing_its_answer_does_not_change_the_next_one():
    host = FakeHost(StateStage.Prepare)
    with mock.patch.object(once, "host", host):
        once.read(LaunchdService, target="gui/501/a")["pid"] = 999
        assert once.read(LaunchdService, target="gui/501/a")["pid"] == 1


@pytest.mark.parametrize("mode", ["agent", "daemon"])
def test_a_dry_run_on_a_converged_mac_asks_each_of_our_facts_once_per_user(tmp_path, mode):
    mac = ConvergedMac(tmp_path, service_mode=mode)
    assert plan(mac) == []
    ours = {fact.__name__ for fact, _, _ in mac.reads if fact.__module__.startswith("facts.")}
    repeated = {read: n for read, n in Counter(mac.reads).items() if read[0].__name__ in ours and n > 1}
    assert {"TailscaleStatus", "LaunchdService", "LaunchdDomain", "TcpListeners"} <= ours
    assert repeated == {}


def test_in_daemon_mode_the_operations_read_their_system_jobs_as_root(tmp_path):
    mac = ConvergedMac(tmp_path, service_mode="daemon")
    plan(mac)
    jobs = {arguments for fact, arguments, _ in mac.reads if fact.__name__ == "LaunchdService"}
    as_root = {arguments for fact, arguments, runs_as in mac.reads
               if fact.__name__ == "LaunchdService" and "('_sudo', True)" in runs_as}
    assert len(jobs) == 2 and all("system/" in job for job in jobs)
    assert as_root == jobs  # each also read as root, by its job_loaded, whoever read it first
