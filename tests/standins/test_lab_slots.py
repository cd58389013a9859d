"""Labs side by side: each `up` takes a free slot, and `down` removes only its own lab.

Two one-host labs in state dirs under build/ start at the same time (their `up`s
race for the slots), next to whatever lab already runs (`make lab`'s in slot 0,
the end-to-end tests' one). Names and addresses come from each lab.json.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.standins.test_lab_host import LAB_MARKS, LABCTL, Lab, labctl, namespaces

pytestmark = LAB_MARKS

BUILD = LABCTL.parents[1] / "build"


def state_dir(name: str) -> Path:
    return BUILD / f"lab-slots-{os.getpid()}-{name}"


def up_at_once(states: list[Path]) -> None:
    with ThreadPoolExecutor(len(states)) as pool:
        ups = list(pool.map(lambda state: labctl(state, "up"), states))
    for up in ups:
        assert up.returncode == 0, up.stderr


def read_lab(state: Path) -> Lab:
    return Lab(state, json.loads((state / "lab.json").read_text()))


@contextmanager
def labs_up(names: list[str]) -> Iterator[list[Lab]]:
    """Labs in state dirs under build/, up at the same time, then down (safe if already down)."""
    states = [state_dir(name) for name in names]
    try:
        up_at_once(states)
        yield [read_lab(state) for state in states]
    finally:
        for state in states:
            done = labctl(state, "down")
            assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def pair():
    with labs_up(["a", "b"]) as labs:
        yield labs


@pytest.mark.parametrize(
    "what",
    [
        lambda lab: lab.info["slot"],
        lambda lab: lab.info["client_netns"],
        lambda lab: lab.host(1)["netns"],
        lambda lab: lab.host(1)["ssh_hostname"],
        lambda lab: lab.host(1)["tailscale_ip"],
        lambda lab: lab.info["client_tailscale_ip"],
    ],
    ids=["slot", "client netns", "host netns", "ssh address", "tailscale address", "client tailscale address"],
)
def test_labs_running_at_once_share_nothing(pair, what):
    assert what(pair[0]) != what(pair[1])


@pytest.mark.parametrize("which", [0, 1], ids=["a", "b"])
def test_each_lab_is_reached_over_ssh_with_its_own_config(pair, which):
    lab = pair[which]
    done = lab.ssh(1, "id -un; ip -4 -o addr show dev en0")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "admin"
    assert f" {lab.host(1)['ssh_hostname']}/30 " in done.stdout


def test_a_labs_config_trusts_none_of_the_other_labs_hosts(pair):
    # The same host name, lab-mac-1, in both labs: a's known_hosts must not accept b's host key.
    done = pair[0].ssh(1, "true", "-o", f"HostName={pair[1].host(1)['ssh_hostname']}")
    assert done.returncode == 255
    assert "Host key verification failed" in done.stderr


@pytest.mark.parametrize("how", ["option", "environment"])
def test_up_refuses_a_slot_another_lab_holds(pair, how):
    state = state_dir("refused")
    taken = pair[1].info["slot"]
    done = labctl(state, "up", "--slot", str(taken)) if how == "option" else labctl(state, "up", slot=taken)
    assert done.returncode == 1
    assert f"slot {taken} is taken by the lab at {pair[1].state} " in done.stderr
    assert not state.exists()


@pytest.fixture(scope="module")
def a_down(pair):
    """Lab a taken down, with b's slot in the environment: `down` reads the slot from a's plan only."""
    done = labctl(pair[0].state, "down", slot=pair[1].info["slot"])
    assert done.returncode == 0, done.stderr
    return pair[1]


def test_down_removes_only_its_own_namespaces(pair, a_down):
    present = namespaces()
    assert not pair[0].namespaces() & present
    assert pair[1].namespaces() <= present


@pytest.mark.parametrize(
    "check",
    [
        lambda lab: lab.labctl("status").returncode == 0,
        lambda lab: lab.ssh(1, "hostname").stdout == "lab-mac-1\n",
        lambda lab: lab.exec(1, "id -u").stdout == "0\n",
        lambda lab: f"inet {lab.info['client_tailscale_ip']}/32" in lab.client("ip", "-4", "-o", "addr").stdout,
    ],
    ids=["status", "ssh", "exec", "client"],
)
def test_the_other_lab_keeps_working(a_down, check):
    assert check(a_down)


@pytest.fixture
def planless(a_down):
    """A lab whose plan is gone, as if its `up` failed half-way."""
    with labs_up(["planless"]) as (lab,):
        (lab.state / "plan.json").unlink()
        yield lab


def test_down_without_a_plan_removes_its_own_slots_namespaces_only(a_down, planless):
    assert planless.labctl("down").returncode == 0
    present = namespaces()
    assert not planless.namespaces() & present
    assert a_down.namespaces() <= present
