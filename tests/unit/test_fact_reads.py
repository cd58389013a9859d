"""facts.once.read: a fact is asked of the host once while pyinfra prepares (the
whole drift check), and every time while it executes (operations change the host)."""

from __future__ import annotations

from collections import Counter
from unittest import mock

import pytest
from pyinfra.api.state import StateStage

from facts import once
from facts.launchd import LaunchdService
from tests.unit.plan import ConvergedMac, plan


class FakeState:
    def __init__(self, stage: StateStage) -> None:
        self.current_stage = stage


class FakeHost:
    """Counts the reads that reach the host; each answer is a new object."""

    def __init__(self, stage: StateStage, name: str = "mac") -> None:
        self.state = FakeState(stage)
        self.name = name
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


def test_a_caller_changing_its_answer_does_not_change_the_next_one():
    host = FakeHost(StateStage.Prepare)
    with mock.patch.object(once, "host", host):
        once.read(LaunchdService, target="gui/501/a")["pid"] = 999
        assert once.read(LaunchdService, target="gui/501/a")["pid"] == 1


def test_a_dry_run_on_a_converged_mac_asks_each_of_our_facts_once(tmp_path):
    mac = ConvergedMac(tmp_path)
    assert plan(mac) == []
    ours = {fact.__name__ for fact, _ in mac.reads if fact.__module__.startswith("facts.")}
    repeated = {read: n for read, n in Counter(mac.reads).items() if read[0].__name__ in ours and n > 1}
    assert {"TailscaleStatus", "LaunchdService", "LaunchdDomain", "TcpListeners"} <= ours
    assert repeated == {}
