"""The launchd/launchctl stand-in honours launchctl's contract as the macOS captures show it.

Each test drives the real CLI against a real daemon (see conftest.py): exit
codes and messages, permissions by uid, GUI sessions, bootout's teardown
window, KeepAlive and ThrottleInterval, signals, overrides, print/list layouts.
Run as root: ``/tmp/venv/bin/python -m pytest tests/standins/test_launchctl.py``.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from pathlib import Path

import pytest

from tests.standins.launchd_lab import alive, capture, parse_print, running_lab, wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the launchd stand-in tests need root (setuid jobs, a throwaway user)")

SLEEPER = "exec sleep 60"
HINT = "Try re-running the command as root for richer errors.\n"
EIO = "Bootstrap failed: 5: Input/output error\n"


def gui(lab, label: str = "") -> str:
    return f"gui/{lab.user.uid}/{label}".rstrip("/")


# --- bootstrap ---------------------------------------------------------------------------


def test_bootstrap_starts_a_run_at_load_job(lab):
    plist = lab.daemon_plist("t.run", SLEEPER, RunAtLoad=True)
    assert lab.launchctl("bootstrap", "system", str(plist)).returncode == 0
    fields = lab.fields("system/t.run")
    assert fields["state"] == "running" and alive(int(fields["pid"]))


def test_bootstrap_without_run_at_load_leaves_the_job_loaded_but_stopped(lab):
    plist = lab.daemon_plist("t.idle", SLEEPER)
    assert lab.launchctl("bootstrap", "system", str(plist)).returncode == 0
    fields = lab.fields("system/t.idle")
    assert (fields["state"], "pid" in fields, fields["last exit code"]) == ("not running", False, "(never exited)")


def test_bootstrap_reads_binary_plists(lab):
    plist = lab.write_plist(lab.library / "LaunchDaemons" / "t.bin.plist", binary=True, Label="t.bin", ProgramArguments=["/bin/sleep", "60"], RunAtLoad=True)
    assert lab.launchctl("bootstrap", "system", str(plist)).returncode == 0
    assert lab.fields("system/t.bin")["state"] == "running"


def test_bootstrap_resolves_relative_paths_from_the_callers_directory(lab):
    lab.daemon_plist("t.rel", SLEEPER)
    assert lab.launchctl("bootstrap", "system", "t.rel.plist", cwd=lab.library / "LaunchDaemons").returncode == 0


@pytest.mark.parametrize("as_user, expected", [(False, EIO), (True, EIO + HINT)], ids=["root", "user"])
def test_bootstrap_of_a_loaded_label_fails_with_eio(lab, as_user, expected):
    lab.login()
    plist = lab.agent_plist("t.twice", SLEEPER) if as_user else lab.daemon_plist("t.twice", SLEEPER)
    domain = gui(lab) if as_user else "system"
    assert lab.launchctl("bootstrap", domain, str(plist), as_user=as_user).returncode == 0
    again = lab.launchctl("bootstrap", domain, str(plist), as_user=as_user)
    assert (again.returncode, again.stdout, again.stderr) == (5, "", expected)


BAD_PLISTS = {
    "no label": {"ProgramArguments": ["/bin/true"]},
    "no program": {"Label": "t.bad"},
    "empty program arguments": {"Label": "t.bad", "ProgramArguments": []},
    "label not a string": {"Label": 7, "ProgramArguments": ["/bin/true"]},
    "keepalive a string": {"Label": "t.bad", "ProgramArguments": ["/bin/true"], "KeepAlive": "yes"},
    "environment value not a string": {"Label": "t.bad", "ProgramArguments": ["/bin/true"], "EnvironmentVariables": {"A": 1}},
    "negative throttle": {"Label": "t.bad", "ProgramArguments": ["/bin/true"], "ThrottleInterval": -1},
}


@pytest.mark.parametrize("keys", BAD_PLISTS.values(), ids=BAD_PLISTS.keys())
def test_bootstrap_refuses_an_invalid_job_with_eio(idle_lab, keys):
    plist = idle_lab.write_plist(idle_lab.library / "LaunchDaemons" / "t.bad.plist", **keys)
    result = idle_lab.launchctl("bootstrap", "system", str(plist))
    assert (result.returncode, result.stderr) == (5, EIO)


@pytest.mark.parametrize("content", [b"<plist><dict><key>Label</key>", b"not a plist", b""], ids=["truncated", "text", "empty"])
def test_bootstrap_refuses_an_unparsable_file_with_eio(idle_lab, content):
    path = idle_lab.library / "LaunchDaemons" / "t.broken.plist"
    path.write_bytes(content)
    assert idle_lab.launchctl("bootstrap", "system", str(path)).returncode == 5


def test_bootstrap_of_a_missing_file_fails_with_eio(idle_lab):
    result = idle_lab.launchctl("bootstrap", "system", str(idle_lab.root / "nowhere.plist"))
    assert (result.returncode, result.stderr) == (5, EIO)


def daemon_owned(lab, mode=0o644, owner=None):
    return lab.write_plist(lab.library / "LaunchDaemons" / "t.owner.plist", owner=owner, mode=mode, Label="t.owner", ProgramArguments=["/bin/true"])


def agent_owned(lab, mode=0o644, owner=None):
    return lab.write_plist(lab.user.agents / "t.owner.plist", owner=owner, mode=mode, Label="t.owner", ProgramArguments=["/bin/true"])


OWNERSHIP_CASES = {
    "daemon owned by a user": (daemon_owned, "user", 0o644),
    "daemon group-writable": (daemon_owned, "root", 0o664),
    "daemon world-writable": (daemon_owned, "root", 0o646),
    "agent in ~/Library/LaunchAgents owned by root": (agent_owned, "root", 0o644),
    "agent group-writable": (agent_owned, "user", 0o664),
}


@pytest.mark.parametrize("make, owner, mode", OWNERSHIP_CASES.values(), ids=OWNERSHIP_CASES.keys())
def test_bootstrap_refuses_plists_with_untrusted_owner_or_mode(lab, make, owner, mode):
    lab.login()
    plist = make(lab, mode=mode, owner=lab.user if owner == "user" else None)
    domain = "system" if make is daemon_owned else gui(lab)
    assert lab.launchctl("bootstrap", domain, str(plist)).returncode == 5


def test_bootstrap_accepts_the_users_own_agent_plist(lab):
    lab.login()
    plist = agent_owned(lab, owner=lab.user)
    assert lab.launchctl("bootstrap", gui(lab), str(plist), as_user=True).returncode == 0


def test_bootstrap_into_the_user_domain_needs_a_background_session_type(lab):
    aqua = lab.agent_plist("t.aqua", SLEEPER)
    background = lab.agent_plist("t.background", SLEEPER, LimitLoadToSessionType=["Aqua", "Background"])
    domain = f"user/{lab.user.uid}"
    refused = lab.launchctl("bootstrap", domain, str(aqua), as_user=True)
    assert refused.returncode == 125 and refused.stderr.startswith("Bootstrap failed: 125: Domain does not support specified action\n")
    assert lab.launchctl("bootstrap", domain, str(background), as_user=True).returncode == 0


# --- permissions --------------------------------------------------------------------------

DENIED_ON_SYSTEM = {
    "bootstrap": (["bootstrap", "system", "{plist}"], "Bootstrap failed: 1: Operation not permitted\n" + HINT),
    "bootout": (["bootout", "system/t.perm"], "Boot-out failed: 1: Operation not permitted\n" + HINT),
    "kickstart": (["kickstart", "system/t.perm"], 'Could not kickstart service "t.perm": 1: Operation not permitted\n'),
    "kill": (["kill", "TERM", "system/t.perm"], 'Could not kill service "t.perm": 1: Operation not permitted\n'),
    "enable": (["enable", "system/t.perm"], 'Could not enable service "t.perm": 1: Operation not permitted\n'),
    "disable": (["disable", "system/t.perm"], 'Could not disable service "t.perm": 1: Operation not permitted\n'),
}


@pytest.mark.parametrize("arguments, message", DENIED_ON_SYSTEM.values(), ids=DENIED_ON_SYSTEM.keys())
def test_non_root_may_not_modify_the_system_domain(lab, arguments, message):
    plist = lab.daemon_plist("t.perm", SLEEPER, RunAtLoad=True)
    assert lab.launchctl("bootstrap", "system", str(plist)).returncode == 0
    pid = lab.pid("system/t.perm")
    result = lab.launchctl(*[argument.format(plist=plist) for argument in arguments], as_user=True)
    assert (result.returncode, result.stderr) == (1, message)
    assert lab.pid("system/t.perm") == pid  # untouched


def test_non_root_may_read_the_system_domain(lab):
    lab.launchctl("bootstrap", "system", str(lab.daemon_plist("t.read", SLEEPER)))
    assert lab.launchctl("print", "system/t.read", as_user=True).returncode == 0


def test_non_root_may_not_bootstrap_into_another_users_domain(idle_lab):
    plist = idle_lab.agent_plist("t.other", SLEEPER)
    result = idle_lab.launchctl("bootstrap", "user/0", str(plist), as_user=True)
    assert (result.returncode, result.stderr) == (1, "Bootstrap failed: 1: Operation not permitted\n" + HINT)


# --- GUI sessions ---------------------------------------------------------------------------

NO_GUI = {
    "bootstrap": (["bootstrap", "{gui}", "{plist}"], "Bootstrap failed: 125: Domain does not support specified action\nService cannot load in requested session\n" + HINT),
    "kickstart": (["kickstart", "{gui}/t.nogui"], 'Could not kickstart service "t.nogui": 125: Domain does not support specified action\n'),
    "print service": (["print", "{gui}/t.nogui"], "Could not find domain for user gui: {uid}\n"),
    "print domain": (["print", "{gui}"], "Could not find domain for user gui: {uid}\n"),
    "bootout": (["bootout", "{gui}/t.nogui"], "Could not find domain for user gui: {uid}\n"),
    "disable": (["disable", "{gui}/t.nogui"], "Could not find domain for user gui: {uid}\n"),
    "kill": (["kill", "TERM", "{gui}/t.nogui"], "Could not find domain for user gui: {uid}\n"),
}


@pytest.mark.parametrize("arguments, message", NO_GUI.values(), ids=NO_GUI.keys())
def test_gui_domain_without_a_gui_login_fails_with_125(idle_lab, arguments, message):
    plist = idle_lab.agent_plist("t.nogui", SLEEPER)
    values = {"gui": gui(idle_lab), "plist": plist, "uid": idle_lab.user.uid}
    result = idle_lab.launchctl(*[argument.format(**values) for argument in arguments], as_user=True)
    assert (result.returncode, result.stdout, result.stderr) == (125, "", message.format(**values))


def test_gui_login_loads_the_users_launch_agents(lab):
    lab.agent_plist("t.agent", SLEEPER, RunAtLoad=True)
    lab.login()
    fields = lab.fields(gui(lab, "t.agent"))
    assert fields["state"] == "running" and fields["domain"].startswith(f"gui/{lab.user.uid} [")


def test_gui_login_skips_disabled_launch_agents(lab):
    lab.agent_plist("t.off", SLEEPER, RunAtLoad=True)
    lab.login()
    assert lab.launchctl("disable", gui(lab, "t.off"), as_user=True).returncode == 0
    lab.logout()
    lab.login()
    assert lab.launchctl("print", gui(lab, "t.off")).returncode == 113


def test_logout_stops_and_unloads_the_users_jobs(lab):
    lab.agent_plist("t.session", SLEEPER, RunAtLoad=True)
    lab.login()
    pid = wait_until(lambda: lab.pid(gui(lab, "t.session")))
    (lab.state / "gui-sessions").write_text("")
    wait_until(lambda: not alive(pid))  # no request needed: the daemon polls the session file
    assert lab.launchctl("print", gui(lab, "t.session")).returncode == 125


def test_a_reboot_without_login_runs_launch_daemons_but_no_launch_agents(lab):
    lab.daemon_plist("t.boot", SLEEPER, RunAtLoad=True)
    lab.agent_plist("t.agent", SLEEPER, RunAtLoad=True)
    lab.restart()
    assert lab.fields("system/t.boot")["state"] == "running"
    assert lab.launchctl("print", gui(lab, "t.agent")).returncode == 125


@pytest.mark.parametrize("logged_in, expected", [(True, "Aqua\n"), (False, "Background\n")])
def test_managername_names_the_callers_session(lab, logged_in, expected):
    if logged_in:
        lab.login()
    assert lab.launchctl("managername", as_user=True).stdout == expected


# --- bootout -----------------------------------------------------------------------------------


def trapping_job(lab, label: str, on_term: str, **keys) -> tuple[Path, int]:
    """Bootstrap a LaunchDaemon that runs `on_term` on SIGTERM; returns (plist, pid) once its trap is set."""
    ready = lab.root / f"{label}.ready"
    plist = lab.daemon_plist(label, f"trap '{on_term}' TERM; touch {ready}; while :; do sleep 0.1; done", RunAtLoad=True, **keys)
    lab.launchctl("bootstrap", "system", str(plist))
    wait_until(ready.exists)
    return plist, lab.pid(f"system/{label}")


SLOW_TO_EXIT = "sleep 1; exit 0"
IGNORE = ""


def test_bootout_returns_before_the_job_has_exited(lab):
    _, pid = trapping_job(lab, "t.slow", SLOW_TO_EXIT)
    result = lab.launchctl("bootout", "system/t.slow")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert alive(pid)


@pytest.mark.parametrize(
    "arguments, code, message",
    [
        (["bootstrap", "system", "{plist}"], 37, "Bootstrap failed: 37: Operation already in progress\n"),
        (["bootout", "system/t.slow"], 36, "Boot-out failed: 36: Operation now in progress\n"),
        (["kickstart", "system/t.slow"], 37, 'Could not kickstart service "t.slow": 37: Operation already in progress\n'),
    ],
    ids=["bootstrap", "bootout", "kickstart"],
)
def test_while_a_bootout_is_in_progress_the_label_is_busy(lab, arguments, code, message):
    plist, _ = trapping_job(lab, "t.slow", SLOW_TO_EXIT)
    lab.launchctl("bootout", "system/t.slow")
    result = lab.launchctl(*[argument.format(plist=plist) for argument in arguments])
    assert (result.returncode, result.stderr) == (code, message)


def test_after_the_bootout_has_finished_the_label_is_gone_and_can_be_bootstrapped(lab):
    plist, pid = trapping_job(lab, "t.slow", SLOW_TO_EXIT)
    lab.launchctl("bootout", "system/t.slow")
    wait_until(lambda: lab.launchctl("print", "system/t.slow").returncode == 113)
    assert not alive(pid)
    assert lab.launchctl("bootstrap", "system", str(plist)).returncode == 0


def test_bootout_kills_a_job_that_ignores_sigterm_after_its_exit_timeout(lab):
    _, pid = trapping_job(lab, "t.stubborn", IGNORE, ExitTimeOut=1)
    started = time.monotonic()
    lab.launchctl("bootout", "system/t.stubborn")
    wait_until(lambda: not alive(pid), timeout=5)
    assert 0.8 < time.monotonic() - started < 4


def test_bootout_of_an_unknown_label_fails_with_esrch(idle_lab):
    result = idle_lab.launchctl("bootout", "system/t.unknown")
    assert (result.returncode, result.stdout, result.stderr) == (3, "", "Boot-out failed: 3: No such process\n")


def test_bootout_by_plist_path_unloads_that_job(lab):
    plist = lab.daemon_plist("t.path", SLEEPER, RunAtLoad=True)
    lab.launchctl("bootstrap", "system", str(plist))
    assert lab.launchctl("bootout", "system", str(plist)).returncode == 0
    wait_until(lambda: lab.launchctl("print", "system/t.path").returncode == 113)


def test_bootout_by_path_of_a_job_that_is_not_loaded_fails_with_eio(idle_lab):
    result = idle_lab.launchctl("bootout", "system", str(idle_lab.daemon_plist("t.never", SLEEPER)))
    assert (result.returncode, result.stderr) == (5, "Boot-out failed: 5: Input/output error\n")


def test_bootout_wait_is_a_usage_error_as_on_macos_15(idle_lab):
    expected = capture("launchctl-bootout-wait-usage-error.txt").rsplit("64\n", 1)[0]
    result = idle_lab.launchctl("bootout", "--wait", "gui/501/com.t3tools.t3code.service")
    assert (result.returncode, result.stderr) == (64, expected)


# --- KeepAlive and ThrottleInterval -------------------------------------------------------------

# case -> (KeepAlive, how each run ends, restarted?)
KEEPALIVE_CASES = {
    "true, clean exit": (True, "exit 0", True),
    "false, failed exit": (False, "exit 1", False),
    "absent, failed exit": (None, "exit 1", False),
    "successful exit false, clean exit": ({"SuccessfulExit": False}, "exit 0", False),
    "successful exit false, failed exit": ({"SuccessfulExit": False}, "exit 1", True),
    "successful exit false, killed": ({"SuccessfulExit": False}, "kill -KILL $$", True),
    "successful exit true, clean exit": ({"SuccessfulExit": True}, "exit 0", True),
    "crashed true, segfault": ({"Crashed": True}, "kill -SEGV $$", True),
    "crashed true, failed exit": ({"Crashed": True}, "exit 1", False),
    "crashed false, failed exit": ({"Crashed": False}, "exit 1", True),
}
OBSERVED_S = 2.3  # ThrottleInterval 1: a kept-alive job starts 2 or 3 times in this window


@pytest.fixture(scope="module")
def keepalive_runs(user):
    """Load every KEEPALIVE_CASES job at once, watch them for OBSERVED_S, return each one's start times."""
    with running_lab(user) as lab:
        for index, (keep_alive, ending, _) in enumerate(KEEPALIVE_CASES.values()):
            keys = {"KeepAlive": keep_alive} if keep_alive is not None else {}
            script = f"date +%s.%N >> {lab.root}/starts-{index}; {ending}"
            plist = lab.daemon_plist(f"t.keepalive.{index}", script, RunAtLoad=True, ThrottleInterval=1, **keys)
            assert lab.launchctl("bootstrap", "system", str(plist)).returncode == 0
        time.sleep(OBSERVED_S)
        return {case: [float(line) for line in (lab.root / f"starts-{index}").read_text().split()] for index, case in enumerate(KEEPALIVE_CASES)}


@pytest.mark.parametrize("case", KEEPALIVE_CASES)
def test_keepalive_decides_whether_a_job_comes_back(keepalive_runs, case):
    restarted = KEEPALIVE_CASES[case][2]
    assert (len(keepalive_runs[case]) > 1) == restarted


@pytest.mark.parametrize("case", [case for case, (_, _, restarted) in KEEPALIVE_CASES.items() if restarted])
def test_restarts_never_come_sooner_than_the_throttle_interval(keepalive_runs, case):
    starts = keepalive_runs[case]
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert len(starts) <= 4 and min(gaps) >= 0.95


def test_keepalive_restarts_a_killed_job_after_the_throttle_interval(lab):
    starts = lab.root / "starts"
    plist = lab.daemon_plist("t.phoenix", f"date +%s.%N >> {starts}; exec sleep 60", RunAtLoad=True, KeepAlive=True, ThrottleInterval=1)
    lab.launchctl("bootstrap", "system", str(plist))
    first = wait_until(lambda: starts.exists() and lab.pid("system/t.phoenix"))
    os.kill(first, signal.SIGKILL)
    times = wait_until(lambda: len(found := [float(line) for line in starts.read_text().split()]) == 2 and found)
    assert 0.95 <= times[1] - times[0] < 3 and alive(lab.pid("system/t.phoenix"))
    fields = lab.fields("system/t.phoenix")
    assert (fields["runs"], fields["last terminating signal"]) == ("2", "Killed: 9")


# --- exit status as print and list show it ------------------------------------------------------

ENDINGS = {
    "exit code": ("exit 3", ("last exit code", "3"), "3", "768"),
    "sigkill": ("kill -KILL $$", ("last terminating signal", "Killed: 9"), "-9", "9"),
    "sigterm": ("kill -TERM $$", ("last terminating signal", "Terminated: 15"), "-15", "15"),
    "sigusr2 in darwin numbers": ("kill -USR2 $$", ("last terminating signal", "User defined signal 2: 31"), "-31", "31"),
}


@pytest.mark.parametrize("script, print_line, list_status, wait_status", ENDINGS.values(), ids=ENDINGS.keys())
def test_the_last_exit_is_reported_as_launchctl_does(lab, script, print_line, list_status, wait_status):
    lab.launchctl("bootstrap", "system", str(lab.daemon_plist("t.end", script, RunAtLoad=True)))
    fields = wait_until(lambda: (fields := lab.fields("system/t.end"))["state"] == "not running" and fields)
    key, value = print_line
    assert fields[key] == value and not ({"last exit code", "last terminating signal"} - {key}) & fields.keys()
    assert f"-\t{list_status}\tt.end\n" in lab.launchctl("list").stdout
    assert f'"LastExitStatus" = {wait_status};' in lab.launchctl("list", "t.end").stdout


SPAWN_FAILURES = {
    "missing program": {"ProgramArguments": ["/nonexistent/ollama", "serve"]},
    "missing log directory": {"ProgramArguments": ["/bin/true"], "StandardOutPath": "/nonexistent/dir/out.log"},
    "missing working directory": {"ProgramArguments": ["/bin/true"], "WorkingDirectory": "/nonexistent/dir"},
    "unknown user name": {"ProgramArguments": ["/bin/true"], "UserName": "no-such-user-here"},
}


@pytest.mark.parametrize("keys", SPAWN_FAILURES.values(), ids=SPAWN_FAILURES.keys())
def test_a_job_that_cannot_be_spawned_records_ex_config(lab, keys):
    plist = lab.write_plist(lab.library / "LaunchDaemons" / "t.cfg.plist", Label="t.cfg", RunAtLoad=True, **keys)
    lab.launchctl("bootstrap", "system", str(plist))
    assert lab.fields("system/t.cfg")["last exit code"] == "78: EX_CONFIG"


def test_a_log_file_the_job_user_cannot_create_fails_the_spawn(lab):
    lab.login()
    plist = lab.agent_plist("t.rootlog", "exit 0", RunAtLoad=True, StandardOutPath=str(lab.root / "root-only" / "out.log"))
    (lab.root / "root-only").mkdir(mode=0o755)
    lab.launchctl("bootstrap", gui(lab), str(plist), as_user=True)
    assert lab.fields(gui(lab, "t.rootlog"))["last exit code"] == "78: EX_CONFIG"


# --- what a job sees ----------------------------------------------------------------------------

ENV_PROBE = "id -u > {out}; pwd >> {out}; env | sort >> {out}"


def probe(lab, domain: str, label: str, **keys) -> list[str]:
    """What the job sees: its uid, working directory and sorted environment."""
    out = lab.user.home / f"{label}.out"  # writable whether the job runs as root or as the user
    out.unlink(missing_ok=True)
    agent = domain != "system"
    write = lab.agent_plist if agent else lab.daemon_plist
    plist = write(label, ENV_PROBE.format(out=out), RunAtLoad=True, **keys)
    assert lab.launchctl("bootstrap", domain, str(plist), as_user=agent).returncode == 0
    wait_until(lambda: out.exists() and "PATH=" in out.read_text())
    return out.read_text().splitlines()


def test_a_gui_job_runs_as_the_user_with_launchds_user_environment(lab):
    lab.login()
    lines = probe(lab, gui(lab), "t.env", EnvironmentVariables={"OLLAMA_HOST": "127.0.0.1:11434"})
    env = dict(line.split("=", 1) for line in lines[2:])
    assert lines[:2] == [str(lab.user.uid), "/"]
    assert {key: env[key] for key in ("HOME", "USER", "LOGNAME", "SHELL", "PATH", "XPC_SERVICE_NAME", "OLLAMA_HOST")} == {
        "HOME": str(lab.user.home),
        "USER": lab.user.name,
        "LOGNAME": lab.user.name,
        "SHELL": "/bin/sh",
        "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
        "XPC_SERVICE_NAME": "t.env",
        "OLLAMA_HOST": "127.0.0.1:11434",
    }
    tmpdir = Path(env["TMPDIR"])
    assert env["TMPDIR"].endswith("/T/") and tmpdir.stat().st_uid == lab.user.uid and tmpdir.stat().st_mode & 0o777 == 0o700


def test_a_root_daemon_without_user_name_gets_no_home(lab):
    lines = probe(lab, "system", "t.rootenv")
    env = dict(line.split("=", 1) for line in lines[2:])
    assert lines[0] == "0" and not {"HOME", "USER", "LOGNAME", "TMPDIR"} & env.keys()


def test_a_daemon_with_user_name_runs_as_that_user(lab):
    lines = probe(lab, "system", "t.asuser", UserName=lab.user.name, WorkingDirectory=str(lab.user.home))
    env = dict(line.split("=", 1) for line in lines[2:])
    assert (lines[0], lines[1], env["HOME"], env["USER"]) == (str(lab.user.uid), str(lab.user.home), str(lab.user.home), lab.user.name)


def test_logs_are_appended_and_owned_by_the_job_user(lab):
    lab.login()
    log = lab.user.home / "job.log"
    log.write_text("earlier\n")
    os.chown(log, lab.user.uid, lab.user.gid)
    plist = lab.agent_plist("t.log", "echo out; echo err >&2", RunAtLoad=True, StandardOutPath=str(log), StandardErrorPath=str(lab.user.home / "new.log"))
    lab.launchctl("bootstrap", gui(lab), str(plist), as_user=True)
    wait_until(lambda: (lab.user.home / "new.log").exists() and (lab.user.home / "new.log").read_text() == "err\n")
    assert log.read_text() == "earlier\nout\n" and (lab.user.home / "new.log").stat().st_uid == lab.user.uid


# --- kickstart -------------------------------------------------------------------------------------


def test_kickstart_of_a_missing_service_fails_with_113(lab):
    lab.login()
    result = lab.launchctl("kickstart", gui(lab, "edgedb-server-authub"), as_user=True)
    expected = f'Could not find service "edgedb-server-authub" in domain for user gui: {lab.user.uid}\n'
    assert (result.returncode, result.stderr) == (113, expected)


def test_kickstart_starts_a_stopped_job_silently(lab):
    lab.launchctl("bootstrap", "system", str(lab.daemon_plist("t.kick", SLEEPER)))
    result = lab.launchctl("kickstart", "system/t.kick")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert lab.fields("system/t.kick")["state"] == "running"


def test_kickstart_p_prints_the_pid(lab):
    lab.launchctl("bootstrap", "system", str(lab.daemon_plist("t.kick", SLEEPER)))
    result = lab.launchctl("kickstart", "-p", "system/t.kick")
    assert result.stdout == f"{lab.pid('system/t.kick')}\n"


def test_kickstart_k_replaces_a_running_process(lab):
    lab.launchctl("bootstrap", "system", str(lab.daemon_plist("t.kick", SLEEPER, RunAtLoad=True, ThrottleInterval=30)))
    old = lab.pid("system/t.kick")
    result = lab.launchctl("kickstart", "-k", "-p", "system/t.kick")
    new = int(result.stdout)
    assert result.returncode == 0 and new != old and alive(new) and not alive(old)


def test_kickstart_of_a_disabled_service_fails_with_119(lab):
    lab.launchctl("bootstrap", "system", str(lab.daemon_plist("t.kick", SLEEPER)))
    lab.launchctl("disable", "system/t.kick")
    result = lab.launchctl("kickstart", "system/t.kick")
    assert (result.returncode, result.stderr) == (119, 'Could not kickstart service "t.kick": 119: Service is disabled\n')


def test_kickstart_without_k_leaves_a_running_process_alone(lab):
    lab.launchctl("bootstrap", "system", str(lab.daemon_plist("t.kick", SLEEPER, RunAtLoad=True)))
    old = lab.pid("system/t.kick")
    assert lab.launchctl("kickstart", "system/t.kick").returncode == 0 and lab.pid("system/t.kick") == old


# --- kill ---------------------------------------------------------------------------------------------

USR2_CATCHER = "trap 'echo usr2 >> {out}' USR2; echo ready >> {out}; while :; do sleep 0.05; done"


@pytest.mark.parametrize("spelling", ["SIGUSR2", "USR2", "31", "-31"])
def test_kill_delivers_the_signal_to_the_job(lab, spelling):
    out = lab.root / "signals"
    lab.launchctl("bootstrap", "system", str(lab.daemon_plist("t.usr2", USR2_CATCHER.format(out=out), RunAtLoad=True)))
    wait_until(out.exists)
    assert lab.launchctl("kill", spelling, "system/t.usr2").returncode == 0
    wait_until(lambda: "usr2" in out.read_text())
    assert lab.fields("system/t.usr2")["state"] == "running"


def test_kill_of_a_job_that_is_not_running_fails_with_esrch(lab):
    lab.launchctl("bootstrap", "system", str(lab.daemon_plist("t.idle", SLEEPER)))
    result = lab.launchctl("kill", "TERM", "system/t.idle")
    assert (result.returncode, result.stderr) == (3, 'Could not kill service "t.idle": 3: No such process\n')


@pytest.mark.parametrize("spelling", ["usr2", "SIGNOPE", "99", "12x"])
def test_kill_with_an_unknown_signal_is_a_usage_error(idle_lab, spelling):
    result = idle_lab.launchctl("kill", spelling, "system/t.any")
    assert result.returncode == 64 and result.stderr.startswith("Invalid signal.\nUsage: launchctl kill ")


# --- enable / disable ---------------------------------------------------------------------------------


def test_a_disabled_label_cannot_be_bootstrapped(lab):
    lab.launchctl("disable", "system/t.off")
    result = lab.launchctl("bootstrap", "system", str(lab.daemon_plist("t.off", SLEEPER)))
    assert (result.returncode, result.stderr) == (5, EIO)


def test_enable_lets_a_disabled_label_load_again(lab):
    plist = lab.daemon_plist("t.off", SLEEPER)
    assert lab.launchctl("disable", "system/t.off").returncode == 0
    assert lab.launchctl("enable", "system/t.off").returncode == 0
    bootstrap = lab.launchctl("bootstrap", "system", str(plist))
    assert bootstrap.returncode == 0, bootstrap.stderr


@pytest.mark.parametrize("verb, shown", [("disable", "disabled"), ("enable", "enabled")])
def test_overrides_show_in_the_domains_disabled_services(lab, verb, shown):
    lab.launchctl(verb, "system/com.example.watchdog")
    assert parse_print(lab.launchctl("print", "system").stdout)["disabled services"] == {'"com.example.watchdog"': shown}


def test_overrides_survive_a_daemon_restart(lab):
    lab.launchctl("disable", "system/t.off")
    lab.restart()
    assert '"t.off" => disabled' in lab.launchctl("print-disabled", "system").stdout


def test_disabled_launch_daemons_are_not_loaded_at_boot(lab):
    lab.daemon_plist("t.off", SLEEPER, RunAtLoad=True)
    lab.launchctl("disable", "system/t.off")
    lab.restart()
    assert lab.launchctl("print", "system/t.off").returncode == 113


# --- print ---------------------------------------------------------------------------------------------

CAPTURED_SERVICES = (
    "launchctl-print-gui-service-running.txt",
    "launchctl-print-gui-service-not-running.txt",
    "launchctl-print-system-service-running.txt",
    "launchctl-print-user-domain-not-running.txt",
)


def captured_keys() -> set[str]:
    return set().union(*(parse_print(capture(name)) for name in CAPTURED_SERVICES))


@pytest.mark.parametrize("running", [True, False], ids=["running", "not running"])
def test_print_uses_only_fields_the_captures_have(lab, running):
    lab.login()
    log = str(lab.user.home / "x.log")
    plist = lab.agent_plist("t.layout", SLEEPER, RunAtLoad=running, KeepAlive=running, StandardOutPath=log, StandardErrorPath=log, WorkingDirectory=str(lab.user.home))
    lab.launchctl("bootstrap", gui(lab), str(plist), as_user=True)
    fields = lab.fields(gui(lab, "t.layout"))
    assert set(fields) <= captured_keys()
    assert {"path", "type", "state", "program", "arguments", "environment", "domain", "runs", "last exit code"} <= set(fields)


@pytest.mark.parametrize("running", [True, False], ids=["running", "not running"])
def test_print_shows_pid_only_while_running(lab, running):
    lab.launchctl("bootstrap", "system", str(lab.daemon_plist("t.pid", SLEEPER, RunAtLoad=running)))
    fields = lab.fields("system/t.pid")
    assert (fields["state"], "pid" in fields, fields["active count"]) == (("running", True, "1") if running else ("not running", False, "0"))


def test_print_shows_the_job_as_the_captures_do(lab):
    lab.login()
    plist = lab.agent_plist("t.show", SLEEPER, EnvironmentVariables={"OLLAMA_HOST": "127.0.0.1:11434"}, ThrottleInterval=7)
    lab.launchctl("bootstrap", gui(lab), str(plist), as_user=True)
    fields = lab.fields(gui(lab, "t.show"))
    assert fields["path"] == str(plist) and fields["type"] == "LaunchAgent" and fields["program"] == "/bin/sh"
    assert fields["arguments"] == ["/bin/sh", "-c", SLEEPER]
    assert fields["environment"] == {"OLLAMA_HOST": "127.0.0.1:11434", "XPC_SERVICE_NAME": "t.show"}
    assert fields["default environment"] == {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}
    assert fields["domain"] == f"gui/{lab.user.uid} [{fields['asid']}]" and fields["minimum runtime"] == "7"
    assert fields["properties"] == "inferred program"


@pytest.mark.parametrize("domain", ["system", "gui"])
def test_print_of_a_missing_service_is_a_bad_request(lab, domain):
    lab.login()
    target, described = ("system/t.missing", "system") if domain == "system" else (gui(lab, "t.missing"), f"user gui: {lab.user.uid}")
    result = lab.launchctl("print", target)
    assert (result.returncode, result.stderr) == (113, f'Bad request.\nCould not find service "t.missing" in domain for {described}\n')


def test_print_not_found_wording_matches_the_capture(idle_lab):
    result = idle_lab.launchctl("print", "system/systems.determinate.nix-daemon")
    assert result.stderr == capture("launchctl-print-not-found.txt")


def test_print_of_a_domain_lists_its_services(lab):
    lab.launchctl("bootstrap", "system", str(lab.daemon_plist("t.listed", SLEEPER, RunAtLoad=True)))
    services = parse_print(lab.launchctl("print", "system").stdout)["services"]
    assert [row.split() for row in services] == [[str(lab.pid("system/t.listed")), "-", "t.listed"]]


# --- list ------------------------------------------------------------------------------------------------


def test_list_has_the_captures_header_and_tab_separated_rows(lab):
    lab.launchctl("bootstrap", "system", str(lab.daemon_plist("t.up", SLEEPER, RunAtLoad=True)))
    lab.launchctl("bootstrap", "system", str(lab.daemon_plist("t.down", SLEEPER)))
    lines = lab.launchctl("list").stdout.splitlines()
    assert lines[0] == capture("launchctl-list.txt").splitlines()[0]
    assert sorted(lines[1:]) == ["-\t0\tt.down", f"{lab.pid('system/t.up')}\t0\tt.up"]


def test_list_shows_the_callers_own_domain(lab):
    lab.login()
    lab.launchctl("bootstrap", "system", str(lab.daemon_plist("t.system", SLEEPER)))
    lab.launchctl("bootstrap", gui(lab), str(lab.agent_plist("t.mine", SLEEPER)), as_user=True)
    assert [line.split("\t")[2] for line in lab.launchctl("list", as_user=True).stdout.splitlines()[1:]] == ["t.mine"]


def test_list_of_a_label_prints_the_plist_style_dictionary(lab):
    lab.launchctl("bootstrap", "system", str(lab.daemon_plist("t.dict", SLEEPER, RunAtLoad=True)))
    lines = lab.launchctl("list", "t.dict").stdout.splitlines()
    assert (lines[0], lines[-1]) == ("{", "};") and '\t"Label" = "t.dict";' in lines
    assert f'\t"PID" = {lab.pid("system/t.dict")};' in lines


def test_list_of_a_missing_label_fails_with_113(idle_lab):
    result = idle_lab.launchctl("list", "t.missing")
    assert (result.returncode, result.stderr) == (113, 'Could not find service "t.missing" in domain for port\n')


# --- usage errors and shutdown ----------------------------------------------------------------------------

USAGE_ERRORS = {
    "no subcommand": [],
    "unknown subcommand": ["unbootstrap"],
    "legacy load": ["load", "/Library/LaunchDaemons/x.plist"],
    "kickstart without target": ["kickstart"],
    "kickstart with a domain only": ["kickstart", "system"],
    "unrecognised target": ["print", "gui/admin"],
    "bootstrap without paths": ["bootstrap", "system"],
    "kill without target": ["kill", "TERM"],
    "list -x": ["list", "-x"],
    "bootout of a whole domain": ["bootout", "system"],
}


@pytest.mark.parametrize("arguments", USAGE_ERRORS.values(), ids=USAGE_ERRORS.keys())
def test_usage_errors_exit_64_with_usage_text(idle_lab, arguments):
    result = idle_lab.launchctl(*arguments)
    assert result.returncode == 64 and "Usage: launchctl " in result.stderr and result.stdout == ""


def test_unknown_subcommands_are_named(idle_lab):
    assert idle_lab.launchctl("unbootstrap").stderr.startswith("Unrecognized subcommand: unbootstrap\nUsage: launchctl <subcommand>")


def test_stopping_the_daemon_stops_every_job(lab):
    lab.launchctl("bootstrap", "system", str(lab.daemon_plist("t.a", SLEEPER, RunAtLoad=True, KeepAlive=True)))
    lab.launchctl("bootstrap", "system", str(lab.daemon_plist("t.b", "trap '' TERM; sleep 60 & wait", RunAtLoad=True, ExitTimeOut=1)))
    pids = [lab.pid("system/t.a"), lab.pid("system/t.b")]
    children = wait_until(lambda: [int(pid) for pid in Path(f"/proc/{pids[1]}/task/{pids[1]}/children").read_text().split()])
    lab.stop()
    assert lab.daemon.returncode == 0 and not any(alive(pid) for pid in pids + children)
