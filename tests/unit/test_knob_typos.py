"""A key that is not a knob is refused, naming the key and the knob it was meant to be, whichever way it
arrives: host data, group data, ``--data``, an admin tool. With the project's inventory helper that happens
before pyinfra connects; an inventory of plain pyinfra tuples is refused by the deploy before its first command."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from pyinfra.api.arguments import all_global_arguments
from pyinfra.api.connectors import get_all_connectors

from private_ollama.desired_state.settings import Settings, SettingsError
from tests.admin import admin

ROOT = Path(__file__).resolve().parents[2]
TYPO = "proxy_api_key"
REFUSAL = "proxy_api_key is not a knob; did you mean proxy_api_keys?"


class Listener:
    """A TCP port on loopback that counts the connections made to it (closing each at once)."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.socket.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.socket.close()


@pytest.fixture
def listener():
    opened = Listener()
    yield opened
    opened.close()


def pyinfra(inventory: Path, *arguments: str) -> subprocess.CompletedProcess:
    """``pyinfra INVENTORY deploy.py --dry ...`` as a user runs it, from the project."""
    return subprocess.run(
        [sys.executable, "-m", "pyinfra", str(inventory), "deploy.py", "--dry", *arguments],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120,
        check=False,
    )


def helper_inventory(folder: Path, port: int, **data) -> Path:
    """An inventory that uses the project's helper, for one host on ``port`` of loopback."""
    inventory = folder / "inventory.py"
    inventory.write_text(
        "from private_ollama.inventory import validated_hosts\n"
        f"macs = validated_hosts([('127.0.0.1', {{'ssh_port': {port}, 'ssh_user': 'admin', **{data!r}}})])\n",
    )
    return inventory


def assert_refused_before_connecting(run: subprocess.CompletedProcess, listener: Listener, where: str) -> None:
    output = run.stdout + run.stderr
    assert run.returncode != 0, output
    assert f"{where}: {REFUSAL}" in output, output
    assert "Connecting to hosts" not in output and listener.accepted == 0, output


def test_a_valid_inventory_does_connect_so_the_listener_can_tell(tmp_path, listener):
    run = pyinfra(helper_inventory(tmp_path, listener.port))
    assert run.returncode != 0 and listener.accepted >= 1, run.stdout + run.stderr


def test_a_typo_in_host_data_is_refused_before_connecting(tmp_path, listener):
    run = pyinfra(helper_inventory(tmp_path, listener.port, **{TYPO: True}))
    assert_refused_before_connecting(run, listener, "host 127.0.0.1")


@pytest.mark.parametrize("group", ["all", "macs"])
def test_a_typo_in_group_data_is_refused_before_connecting(tmp_path, listener, group):
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data" / f"{group}.py").write_text(f"{TYPO} = True\n")
    run = pyinfra(helper_inventory(tmp_path, listener.port))
    assert_refused_before_connecting(run, listener, str(tmp_path / "group_data" / f"{group}.py"))


def test_a_typo_in_data_on_the_command_line_is_refused_before_connecting(tmp_path, listener):
    run = pyinfra(helper_inventory(tmp_path, listener.port), "--data", f"{TYPO}=true")
    assert_refused_before_connecting(run, listener, "--data")


def test_a_bad_value_on_the_command_line_is_refused_before_connecting(tmp_path, listener):
    run = pyinfra(helper_inventory(tmp_path, listener.port), "--data", "proxy_port=70000")
    output = run.stdout + run.stderr
    assert "--data: proxy_port: Input should be less than or equal to 65535" in output, output
    assert listener.accepted == 0


def recording_shell(folder: Path) -> tuple[Path, Path]:
    """A shell that notes each command pyinfra runs through it; (the shell, its notes)."""
    notes = folder / "commands-run"
    shell = folder / "recording-sh"
    shell.write_text(f'#!/bin/sh\necho "$@" >> {notes}\nexec /bin/sh "$@"\n')
    shell.chmod(0o755)
    return shell, notes


def plain_inventory(folder: Path, shell: Path, **data) -> Path:
    inventory = folder / "plain.py"
    inventory.write_text(f"macs = [('@local', {{'_shell_executable': {str(shell)!r}, **{data!r}}})]\n")
    return inventory


def test_a_plain_tuple_inventory_runs_commands_through_the_recording_shell(tmp_path):
    shell, notes = recording_shell(tmp_path)
    pyinfra(plain_inventory(tmp_path, shell))
    assert notes.is_file() and notes.read_text()  # the deploy's facts ran through it: the test can see commands


@pytest.mark.parametrize("how", ["host data", "--data"])
def test_a_plain_tuple_inventory_is_refused_before_any_command(tmp_path, how):
    shell, notes = recording_shell(tmp_path)
    if how == "host data":
        run = pyinfra(plain_inventory(tmp_path, shell, **{TYPO: True}))
    else:
        run = pyinfra(plain_inventory(tmp_path, shell), "--data", f"{TYPO}=true")
    output = run.stdout + run.stderr
    assert run.returncode != 0 and f"host @local: {REFUSAL}" in output, output
    assert not notes.exists(), notes.read_text()


@pytest.mark.parametrize("how", ["inventory", "--data"])
def test_the_admin_tools_refuse_a_typo_before_connecting(tmp_path, listener, how):
    if how == "inventory":
        run = admin("render", "--out", str(tmp_path / "out"), "--inventory",
                    str(helper_inventory(tmp_path, listener.port, **{TYPO: True})))
    else:
        run = admin("render", "--out", str(tmp_path / "out"), "--inventory",
                    str(helper_inventory(tmp_path, listener.port)), "--data", f"{TYPO}=true")
    assert run.returncode == 1 and REFUSAL in run.stderr, run.stderr
    assert "Traceback" not in run.stderr and listener.accepted == 0
    assert not (tmp_path / "out").exists()


PYINFRA_KEYS = sorted({name for name, _ in all_global_arguments()}
                      | {key for connector in get_all_connectors().values() for key in connector.data_meta})


@pytest.mark.parametrize("key", PYINFRA_KEYS)
def test_pyinfras_own_keys_pass(key):
    Settings.from_data({key: object()})


def test_any_key_of_an_installed_connector_passes():
    for name in get_all_connectors():
        Settings.from_data({f"{name}_anything": 1})


@pytest.mark.parametrize(
    ("key", "said"),
    [
        ("proxy_api_key", "proxy_api_key is not a knob; did you mean proxy_api_keys?"),
        ("servce_mode", "servce_mode is not a knob; did you mean service_mode?"),
        ("_sduo", "_sduo is not a knob; did you mean _sudo?"),
        ("colour", "colour is not a knob; the README's knob table lists every knob"),
    ],
)
def test_an_unknown_key_is_named_with_the_nearest_knob(key, said):
    with pytest.raises(SettingsError) as error:
        Settings.from_data({key: True}, host="mac-studio.local")
    assert str(error.value) == f"host mac-studio.local: {said}"


def test_every_problem_is_listed_at_once():
    with pytest.raises(SettingsError) as error:
        Settings.from_data({"proxy_api_key": True, "servce_mode": "agent"}, host="mac")
    assert "proxy_api_key is not a knob" in str(error.value) and "servce_mode is not a knob" in str(error.value)
