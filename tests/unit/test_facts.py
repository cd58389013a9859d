"""The facts in facts/, tested offline on real macOS captures.

Captures are verbatim copies from the team's shared macos-captures in
tests/data/captures/; the few whose header says FIXTURE are built from
documented shapes because no real capture exists. Commands also run for real
through pyinfra's @local connector, with fake tools first on PATH, to prove they
never fail the host; TcpListeners also runs against the real lsof.

Run: .venv/bin/python -m pytest tests/unit/test_facts.py
"""

from __future__ import annotations

import hashlib
import logging
import os
import shlex
import socket
import subprocess
from pathlib import Path

import pytest
from pyinfra.api import Config, Inventory, State
from pyinfra.api.connect import connect_all
from pyinfra.api.facts import get_fact

from facts.files import FileDigests
from facts.launchd import LaunchdDomain, LaunchdJobs, LaunchdService
from facts.macos import MacHost, PathsExist
from facts.network import TcpListeners
from facts.ollama_models import OllamaModels
from facts.tailscale import TailscaleStatus

CAPTURES = Path(__file__).resolve().parent.parent / "data" / "captures"
OUTPUT_MARKER = "# --- verbatim output below this line ---\n"


def capture(name: str) -> str:
    """The output part of a capture file (everything after the marker line)."""
    return (CAPTURES / name).read_text().split(OUTPUT_MARKER, 1)[1]


def fact_output(output: str, exit_status: int) -> list[str]:
    """The stdout lines a ``with_exit_status`` command hands to ``process``."""
    return (output + f"__exit={exit_status}\n").split("\n")[:-1]


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]


def make_tool(bin_dir: Path, name: str, script: str) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    tool = bin_dir / name
    tool.write_text("#!/bin/sh\n" + script + "\n")
    tool.chmod(0o755)
    return tool


def replay_tool(bin_dir: Path, name: str, output: str, exit_status: int, stream: str = "stdout") -> Path:
    """A fake tool that prints ``output`` on ``stream`` and exits with ``exit_status``."""
    recording = bin_dir.parent / f"{name}.out"
    recording.write_text(output)
    redirect = " >&2" if stream == "stderr" else ""
    return make_tool(bin_dir, name, f"cat {shlex.quote(str(recording))}{redirect}\nexit {exit_status}")


def load_fact(fact: type, bin_dir: Path, env: dict[str, str] | None = None, **arguments):
    """The fact as pyinfra loads it on @local, ``bin_dir`` first on PATH: (value, host failed?)."""
    inventory = Inventory((["@local"], {}))
    state = State(inventory, Config())
    connect_all(state)
    host = inventory.get_host("@local")
    path = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    value = get_fact(state, host, fact, kwargs={**arguments, "_env": {**path, **(env or {})}})
    return value, host in state.failed_hosts


def run_in_sh(command: str, bin_dir: Path) -> list[str]:
    """The stdout lines of ``command`` under /bin/sh (dash: no bashisms), ``bin_dir`` first on PATH."""
    result = subprocess.run(
        ["/bin/sh", "-c", command],
        capture_output=True, text=True, timeout=30, check=True,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
    )
    return result.stdout.split("\n")[:-1]


# --- Every fact: commands exit 0, garbage falls back to the default ---------------------


@pytest.mark.parametrize(
    "fact, arguments, tool, recording, exit_status, stream",
    [
        (LaunchdService, {"target": "gui/501/org.x"}, "launchctl", "launchctl-print-gui-service-running.txt", 0, "stdout"),
        (LaunchdService, {"target": "system/org.x"}, "launchctl", "launchctl-print-not-found.txt", 113, "stderr"),
        (LaunchdService, {"target": "gui/501/org.x"}, "launchctl", "launchctl-kickstart-125-no-gui.txt", 125, "stderr"),
        (LaunchdDomain, {"domain": "gui/501"}, "launchctl", "launchctl-gui-domain-missing.txt", 125, "stderr"),
        (LaunchdJobs, {}, "launchctl", "launchctl-list.txt", 0, "stdout"),
        (TcpListeners, {"port": 11434}, "lsof", None, 1, "stdout"),
        (TailscaleStatus, {"cli": "tailscale"}, "tailscale", "tailscale-cli-daemon-unreachable.txt", 1, "stderr"),
    ],
)
def test_failing_tool_never_fails_the_host_and_its_output_reaches_process(
    tmp_path, fact, arguments, tool, recording, exit_status, stream
):
    output = capture(recording) if recording else ""
    bin_dir = tmp_path / "bin"
    fake = replay_tool(bin_dir, tool, output, exit_status, stream)
    if fact is TailscaleStatus:
        arguments = {"cli": str(fake)}
    value, failed = load_fact(fact, bin_dir, **arguments)
    assert not failed
    assert value == fact().process(fact_output(output, exit_status))


@pytest.mark.parametrize(
    "fact, output",
    [
        (MacHost(), ["Darwin", "garbage"]),
        (PathsExist(), ["maybe /etc"]),
        (FileDigests(), ["garbage", "0123 644 /x"]),
        (LaunchdService(), ["garbage without exit marker"]),
        (LaunchdService(), ["garbage with no service block", "__exit=0"]),
        (LaunchdService(), ["Usage: launchctl print <domain-target> | <service-target>", "__exit=64"]),
        (LaunchdDomain(), ["garbage without exit marker"]),
        (LaunchdJobs(), ["PID\tStatus\tLabel", "one two", "x\t0\tlabel", "__exit=0"]),
        (LaunchdJobs(), ["Unrecognized subcommand: list", "__exit=64"]),
        (TcpListeners(), ["xgarbage", "n:11434", "__exit=0"]),
        (TcpListeners(), ["lsof: unsupported TCP/TPI info selection: X", "__exit=2"]),
        (TailscaleStatus(), ["garbage without exit marker"]),
    ],
)
def test_unparseable_output_gives_default_and_warns(caplog, fact, output):
    assert fact.process(output) == fact.default()
    assert warnings(caplog)


# --- MacHost --------------------------------------------------------------------------------

MAC_USER = {"arch": "arm64", "uid": 501, "user": "admin", "home": "/Users/admin"}
# Rapid Security Response releases add a line with one TAB (from the capture's header).
SW_VERS_14_RSR = capture("sw_vers-macos14.txt").replace("BuildVersion", "ProductVersionExtra:\t(a)\nBuildVersion")


def fake_mac_tools(bin_dir: Path, sw_vers_output: str | None) -> None:
    """sw_vers (None: absent), uname -m and id as on the Mac of the captures, for user admin (501)."""
    if sw_vers_output is not None:
        replay_tool(bin_dir, "sw_vers", sw_vers_output, 0)
    replay_tool(bin_dir, "uname", capture("uname-m.txt"), 0)
    make_tool(bin_dir, "id", 'case "$1" in -u) echo 501 ;; -un) echo admin ;; *) exit 1 ;; esac')


@pytest.mark.parametrize(
    "sw_vers_output, release",
    [
        (capture("sw_vers-macos14.txt"), ("14.6.1", "23G93", 14)),
        (capture("sw_vers-macos15.txt"), ("15.7.7", "24G720", 15)),
        (capture("sw_vers-macos26.txt"), ("26.6.2", "25G83", 26)),
        (SW_VERS_14_RSR, ("14.6.1", "23G93", 14)),
    ],
)
def test_mac_host_reads_release_and_user(tmp_path, caplog, sw_vers_output, release):
    fake_mac_tools(tmp_path / "bin", sw_vers_output)
    value, failed = load_fact(MacHost, tmp_path / "bin", env={"HOME": "/Users/admin"})
    version, build, major = release
    assert value == {
        "product_name": "macOS", "product_version": version, "build_version": build, "major": major, **MAC_USER,
    }
    assert not failed and not warnings(caplog)


def test_mac_host_without_sw_vers_is_not_a_mac(tmp_path):
    fake_mac_tools(tmp_path / "bin", sw_vers_output=None)
    value, failed = load_fact(MacHost, tmp_path / "bin", env={"HOME": "/Users/admin"})
    assert value == {"product_name": None, "product_version": None, "build_version": None, "major": None, **MAC_USER}
    assert not failed


# --- PathsExist -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, exists",
    [("plain.plist", True), ("with space's \"quotes\".plist", True), ("back\\nslash", True), ("missing.plist", False)],
)
def test_paths_exist_reports_each_path(tmp_path, name, exists):
    path = tmp_path / name
    if exists:
        path.write_text("")
    value, failed = load_fact(PathsExist, tmp_path, paths=[str(path), "/"])
    assert value == {str(path): exists, "/": True}
    assert not failed


@pytest.mark.parametrize("path", ["~/Library/LaunchAgents/x.plist", "relative/x.plist", ""])
def test_paths_exist_refuses_relative_paths(path):
    with pytest.raises(ValueError):
        PathsExist().command([path])


# --- FileDigests -----------------------------------------------------------------------------

BSD_STAT = Path(__file__).resolve().parents[2] / "lab" / "standins" / "stat"


def macos_tools(bin_dir: Path) -> Path:
    """A PATH folder with what a Mac has: BSD stat (the lab's strict stand-in), shasum, and no sha1sum."""
    make_tool(bin_dir, "stat", f'exec /usr/bin/python3 {BSD_STAT} "$@"')
    make_tool(bin_dir, "shasum", 'exec /usr/bin/shasum "$@"')
    make_tool(bin_dir, "sha1sum", "exit 127")  # not on macOS
    return bin_dir


def test_file_digests_reads_sha1_and_mode_of_each_file_in_one_go(tmp_path):
    bins = macos_tools(tmp_path / "bin")
    (tmp_path / "a map").write_text("x 1\n")
    (tmp_path / "a map").chmod(0o600)
    (tmp_path / "b.http").write_text("HTTP/1.1 400 Bad Request\r\n\r\n")
    (tmp_path / "b.http").chmod(0o644)
    (tmp_path / "link").symlink_to(tmp_path / "b.http")
    paths = [str(tmp_path / name) for name in ("a map", "b.http", "missing", "link")] + [str(tmp_path)]
    value, failed = load_fact(FileDigests, bins, paths=paths)
    assert not failed
    assert value == {
        paths[0]: {"sha1": hashlib.sha1(b"x 1\n").hexdigest(), "mode": 600},
        paths[1]: {"sha1": hashlib.sha1(b"HTTP/1.1 400 Bad Request\r\n\r\n").hexdigest(), "mode": 644},
        paths[2]: None, paths[3]: None, paths[4]: None,  # missing, a symlink, a folder: not a regular file
    }


def test_file_digests_refuses_relative_paths():
    with pytest.raises(ValueError):
        FileDigests().command(["errors/400.http"])


# --- OllamaModels --------------------------------------------------------------------------

LLAMA_MANIFEST = (  # llama3.2:latest as the registry sends it: its sha256 is `ollama list`'s ID a80c4f17acd5
    b'{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":'
    b'"application/vnd.docker.container.image.v1+json","digest":"sha256:34bb5ab01051a11372a91f95f3fbbc51173eed8e7f'
    b'13ec395b9ae9b8bd0e242b","size":561},"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha2'
    b'56:dde5aa3fc5ffc17176b5e8bdc82f587b24b2678c6c66101bf7da77af9f7ccdff","size":2019377376},{"mediaType":"applicati'
    b'on/vnd.ollama.image.template","digest":"sha256:966de95ca8a62200913e3f8bfbf84c8494536f1b94b49166851e76644e966396'
    b'","size":1429},{"mediaType":"application/vnd.ollama.image.license","digest":"sha256:fcc5a6bec9daf9b561a68827b67'
    b'ab6088e1dba9d1fa2a50d7bbcc8384e0a265d","size":7711},{"mediaType":"application/vnd.ollama.image.license","digest'
    b'":"sha256:a70ff7e570d97baaf4e62ac6e6ad9975e04caa6d900d3742d37698494479e0cd","size":6016},{"mediaType":"applicat'
    b'ion/vnd.ollama.image.params","digest":"sha256:56bb8bd477a519ffa694fc449c2413c6f0e1d3b1c88fa7e3c9d88d3ae49d4dcb",'
    b'"size":96}]}'
)
FAKE_CURL = """#!/usr/bin/python3
import sys
log, tags, manifest = sys.argv[0] + ".log", {tags!r}, {manifest!r}
url = sys.argv[-1]
open(log, "a").write(url + "\\n")
if url.endswith("/api/tags"):
    print(tags, end="")
elif url.endswith("/api/ps"):
    print('{{"models":[]}}', end="")
else:
    out = sys.argv[sys.argv.index("-o") + 1]
    known = url.endswith("/llama3.2/manifests/latest")
    open(out, "wb").write(manifest if known else b'{{"errors":[{{"code":"MANIFEST_UNKNOWN"}}]}}')
    print("200" if known else "404", end="")
"""


def ollama_tools(bin_dir: Path, tags: str) -> Path:
    """The Mac's tools for OllamaModels: a curl that answers Ollama's API and the registry (and notes each URL)."""
    macos_tools(bin_dir)
    curl = bin_dir / "curl"
    curl.write_text(FAKE_CURL.format(tags=tags, manifest=LLAMA_MANIFEST))
    curl.chmod(0o755)
    return curl


def test_installed_models_cost_no_registry_call(tmp_path):
    curl = ollama_tools(tmp_path / "bin", '{"models":[{"name":"llama3.2:latest","digest":"a80c","size":2019393189}]}')
    value, failed = load_fact(OllamaModels, tmp_path / "bin", port=11434, models_dir=str(tmp_path / "models"),
                              manifests={"llama3.2:latest": "https://registry.ollama.ai/v2/library/llama3.2/manifests/latest"})
    assert not failed and value["reachable"] and list(value["models"]) == ["llama3.2:latest"]
    assert value["manifests"] == {}
    assert [url for url in Path(f"{curl}.log").read_text().split() if "registry" in url] == []
    assert value["volume"]["mount"] and value["volume"]["available"] > 0  # df of the nearest existing folder


def test_missing_models_have_their_manifest_read_for_size_and_digest(tmp_path):
    ollama_tools(tmp_path / "bin", '{"models":[]}')
    manifests = {"llama3.2:latest": "https://registry.ollama.ai/v2/library/llama3.2/manifests/latest",
                 "llama9:latest": "https://registry.ollama.ai/v2/library/llama9/manifests/latest"}
    value, _ = load_fact(OllamaModels, tmp_path / "bin", port=11434, models_dir="/", manifests=manifests)
    assert value["manifests"] == {
        "llama3.2:latest": {"status": 200, "size": 2019393189,
                            "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72"},
        "llama9:latest": {"status": 404, "digest": None, "size": None},
    }


def test_ollama_down_reads_as_unreachable_with_no_models(tmp_path):
    ollama_tools(tmp_path / "bin", "")
    value, failed = load_fact(OllamaModels, tmp_path / "bin", port=11434, models_dir="/", manifests={})
    assert (failed, value["reachable"], value["models"]) == (False, False, {})


# --- LaunchdService -------------------------------------------------------------------------

XPC = "XPC_SERVICE_NAME"


@pytest.mark.parametrize(
    "recording, expected",
    [
        (
            "launchctl-print-gui-service-running.txt",
            {
                "state": "running", "pid": 44028, "domain": "gui/501", "runs": 1771, "last_exit_code": 0,
                "path": "/Users/exampleuser/Library/LaunchAgents/com.exampleuser.openclaw.heartbeat.local-brain-guard.plist",
                "program": "/bin/zsh",
                "arguments": ["/bin/zsh", "/Users/exampleuser/.openclaw/workspace/scripts/heartbeat/launchd_local_brain_guard.sh"],
                "environment": {"OSLogRateLimit": "64", XPC: "com.exampleuser.openclaw.heartbeat.local-brain-guard"},
            },
        ),
        (
            "launchctl-print-gui-service-not-running.txt",
            {
                "state": "not running", "pid": None, "domain": "gui/501", "runs": 2, "last_exit_code": 1,
                "path": "/Users/exampleuser/Library/LaunchAgents/com.motherboard.disaster.backup.plist",
                "program": "/bin/bash",
                "arguments": [
                    "/bin/bash",
                    "/Users/exampleuser/Projects/motherboard-systems-hq-clean/scripts/disaster-recovery/create-phase736-external-backup.sh",
                ],
                "environment": {XPC: "com.motherboard.disaster.backup"},
            },
        ),
        (
            "launchctl-print-system-service-running.txt",
            {
                "state": "running", "pid": 383, "domain": "system", "runs": 1, "last_exit_code": None,
                "path": "/Library/LaunchDaemons/org.nixos.nix-daemon.plist",
                "program": "/bin/sh",
                "arguments": [
                    "/bin/sh",
                    "-c",
                    "/bin/wait4path /nix/store && exec /nix/store/65ghpdw6n9vawhzx8bzqym2zmzrz4dmc-nix-2.34.7+1/bin/nix-daemon",
                ],
                "environment": {
                    "OSLogRateLimit": "64",
                    "OBJC_DISABLE_INITIALIZE_FORK_SAFETY": "YES",
                    "NIX_SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt",
                    XPC: "org.nixos.nix-daemon",
                },
            },
        ),
        (
            "launchctl-print-user-domain-not-running.txt",
            {
                "state": "not running", "pid": None, "domain": "user/503", "runs": 1, "last_exit_code": 0,
                "path": "/Users/cp/Library/LaunchAgents/local.resticprofile.self.check.agent.plist",
                "program": "/Users/cp/go/src/github.com/creativeprojects/resticprofile/resticprofile",
                "arguments": [
                    "/Users/cp/go/src/github.com/creativeprojects/resticprofile/resticprofile",
                    "--no-prio", "--no-ansi", "--config", "examples/dev.yaml", "run-schedule", "check@self",
                ],
                "environment": {
                    "PATH": "/usr/local/bin:/System/Cryptexes/App/usr/bin:/usr/bin:/bin:/usr/sbin:/sbin:"
                    "/var/run/com.apple.security.cryptexd/codex.system/bootstrap/usr/local/bin:"
                    "/var/run/com.apple.security.cryptexd/codex.system/bootstrap/usr/bin:"
                    "/var/run/com.apple.security.cryptexd/codex.system/bootstrap/usr/appleinternal/bin:/Users/cp/go/bin",
                    "RESTICPROFILE_SCHEDULE_ID": "examples/dev.yaml:check@self",
                    XPC: "local.resticprofile.self.check",
                },
            },
        ),
    ],
)
def test_launchd_service_reads_top_level_fields_of_loaded_service(caplog, recording, expected):
    # The running captures hold nested blocks with their own `state = active`
    # and `active count`: a flat reader would report the last one.
    assert LaunchdService().process(fact_output(capture(recording), 0)) == expected
    assert not warnings(caplog)


@pytest.mark.parametrize(
    "last_exit_code, expected",
    [("(never exited)", None), ("78: EX_CONFIG", 78), ("1", 1), ("-9", -9)],
)
def test_launchd_service_reads_each_form_of_last_exit_code(last_exit_code, expected):
    output = capture("launchctl-print-gui-service-not-running.txt").replace(
        "last exit code = 1", f"last exit code = {last_exit_code}"
    )
    assert LaunchdService().process(fact_output(output, 0))["last_exit_code"] == expected


@pytest.mark.parametrize(
    "recording, exit_status",
    [
        ("launchctl-print-not-found.txt", 113),
        # The exit status of `print` for a missing service is unverified: the message alone decides.
        ("launchctl-print-not-found.txt", 1),
        ("launchctl-kickstart-not-found-113.txt", 113),
        ("launchctl-gui-domain-missing.txt", 113),
        ("launchctl-kickstart-125-no-gui.txt", 125),
    ],
)
def test_launchd_service_not_loaded_or_no_domain_is_none_without_warning(caplog, recording, exit_status):
    assert LaunchdService().process(fact_output(capture(recording), exit_status)) is None
    assert not warnings(caplog)


AWKWARD_ARGUMENT = "gui/501/it's a \"label\"; $(touch pwned) `id`"


@pytest.mark.parametrize(
    "command",
    [LaunchdService().command(AWKWARD_ARGUMENT), LaunchdDomain().command(AWKWARD_ARGUMENT)],
)
def test_launchctl_gets_the_target_as_one_argument(tmp_path, command):
    make_tool(tmp_path / "bin", "launchctl", 'printf "%s\\n" "$@"')
    assert run_in_sh(command, tmp_path / "bin") == ["print", AWKWARD_ARGUMENT, "__exit=0"]


# --- LaunchdDomain --------------------------------------------------------------------------

OLDER_RELEASE_FORM = {"=> disabled": "=> true", "=> enabled": "=> false"}


def older_release(output: str) -> str:
    for new, old in OLDER_RELEASE_FORM.items():
        output = output.replace(new, old)
    return output


@pytest.mark.parametrize(
    "output, disabled",
    [
        (capture("launchctl-print-disabled-services-snippet.txt"), {"com.example.watchdog": True}),
        (older_release(capture("launchctl-print-disabled-services-snippet.txt")), {"com.example.watchdog": True}),
        (
            capture("launchctl-print-gui-domain-FIXTURE.txt"),
            {"homebrew.mxcl.ollama": True, "org.private-ollama.ollama": False, "org.private-ollama.haproxy": False},
        ),
        (
            older_release(capture("launchctl-print-gui-domain-FIXTURE.txt")),
            {"homebrew.mxcl.ollama": True, "org.private-ollama.ollama": False, "org.private-ollama.haproxy": False},
        ),
    ],
)
def test_launchd_domain_reads_disabled_services(caplog, output, disabled):
    assert LaunchdDomain().process(fact_output(output, 0)) == {"available": True, "error": None, "disabled": disabled}
    assert not warnings(caplog)


@pytest.mark.parametrize(
    "recording, exit_status, error",
    [
        ("launchctl-gui-domain-missing.txt", 113, "Could not find domain for user gui: 501"),
        ("launchctl-gui-domain-missing.txt", 0, "Could not find domain for user gui: 501"),
        (
            "launchctl-kickstart-125-no-gui.txt",
            125,
            'Could not kickstart service "ai.hermes.gateway": 125: Domain does not support specified action',
        ),
    ],
)
def test_launchd_domain_without_session_is_unavailable_with_error(recording, exit_status, error):
    value = LaunchdDomain().process(fact_output(capture(recording), exit_status))
    assert value == {"available": False, "error": error, "disabled": {}}


def test_launchd_domain_failure_without_message_names_the_status():
    assert LaunchdDomain().process(["__exit=125"])["error"] == "launchctl exited with status 125"


# --- LaunchdJobs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "label, job",
    [
        ("com.apple.Finder", {"pid": 1849, "status": 0}),
        ("com.apple.progressd", {"pid": None, "status": -9}),
        ("com.apple.inputanalyticsd", {"pid": 41055, "status": -9}),
        ("application.com.figma.agent.12357889.33683762", {"pid": 1944, "status": 0}),
        ("com.apple.coreimportd", {"pid": None, "status": 0}),
    ],
)
def test_launchd_jobs_reads_pid_and_status_by_label(label, job):
    assert LaunchdJobs().process(fact_output(capture("launchctl-list.txt"), 0))[label] == job


def test_launchd_jobs_reads_every_row(caplog):
    output = capture("launchctl-list.txt")
    rows = output.splitlines()[1:]
    assert set(LaunchdJobs().process(fact_output(output, 0))) == {row.split("\t")[2] for row in rows}
    assert not warnings(caplog)


# --- TcpListeners ---------------------------------------------------------------------------


def lsof_table_as_fields(table: str, with_fd: bool) -> tuple[str, list[dict]]:
    """The ``-F pcn`` output lsof gives for the rows of a ``lsof -iTCP -sTCP:LISTEN -P -n``
    table, and the listeners those rows show. lsof < 4.95 (macOS) also prints ``f``."""
    lines, listeners, last_pid = [], [], None
    for row in table.splitlines()[1:]:
        command, pid, _user, fd, _type, _device, _size, _node, name, _state = row.split()
        if pid != last_pid:
            lines += [f"p{pid}", f"c{command}"]
            last_pid = pid
        lines += ([f"f{fd.rstrip('urw')}"] if with_fd else []) + [f"n{name}"]
        host, port = name.rsplit(":", 1)
        listeners.append({"pid": int(pid), "command": command, "address": host.strip("[]"), "port": int(port)})
    return "".join(line + "\n" for line in lines), listeners


@pytest.mark.parametrize("with_fd", [True, False])
@pytest.mark.parametrize("recording", ["lsof-iTCP-sTCP-LISTEN-P-n.txt", "lsof-PiTCP-sTCP-LISTEN-sudo-askdifferent.txt"])
def test_tcp_listeners_reads_every_socket_of_real_listings(caplog, recording, with_fd):
    output, listeners = lsof_table_as_fields(capture(recording), with_fd)
    assert TcpListeners().process(fact_output(output, 0)) == listeners
    assert not warnings(caplog)


@pytest.mark.parametrize(
    "name, address, port",
    [("127.0.0.1:11434", "127.0.0.1", 11434), ("*:11434", "*", 11434), ("[::1]:18789", "::1", 18789),
     ("100.101.102.103:11434", "100.101.102.103", 11434)],
)
def test_tcp_listeners_reads_address_forms(name, address, port):
    output = f"p921\ncollama\nf3\nn{name}\n"
    assert TcpListeners().process(fact_output(output, 0)) == [
        {"pid": 921, "command": "ollama", "address": address, "port": port}
    ]


@pytest.mark.parametrize(
    "output",
    [capture("lsof-F-field-output-fragments.txt"), "p528\ncPython\nf9\n"],
)
def test_tcp_listeners_ignores_connections_and_files_without_address(output):
    assert TcpListeners().process(fact_output(output, 0)) == []


def test_tcp_listeners_nothing_listening_is_empty_list(caplog):
    assert TcpListeners().process(fact_output("", 1)) == []
    assert not warnings(caplog)


@pytest.mark.parametrize("port", [0, 65536, "11434; id"])
def test_tcp_listeners_refuses_non_ports(port):
    with pytest.raises(ValueError):
        TcpListeners().command(port)


def ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.parametrize(
    "family, bind_address, address",
    [
        (socket.AF_INET, "127.0.0.1", "127.0.0.1"),
        (socket.AF_INET, "0.0.0.0", "*"),
        pytest.param(socket.AF_INET6, "::1", "::1", marks=pytest.mark.skipif(
            not ipv6_loopback_available(), reason="no IPv6 loopback here")),
        pytest.param(socket.AF_INET6, "::", "*", marks=pytest.mark.skipif(
            not ipv6_loopback_available(), reason="no IPv6 here")),
    ],
)
def test_tcp_listeners_reads_live_lsof(tmp_path, family, bind_address, address):
    with socket.socket(family) as server:
        server.bind((bind_address, 0))
        server.listen()
        port = server.getsockname()[1]
        value, failed = load_fact(TcpListeners, tmp_path, port=port)
    command = Path("/proc/self/comm").read_text().strip()
    assert value == [{"pid": os.getpid(), "command": command, "address": address, "port": port}]
    assert not failed


def test_tcp_listeners_live_port_nobody_holds_is_empty(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert load_fact(TcpListeners, tmp_path, port=port) == ([], False)


# --- TailscaleStatus ------------------------------------------------------------------------

RUNNING = {
    "installed": True, "daemon_running": True, "backend_state": "Running",
    "ipv4": "100.101.102.103", "ipv6": "fd7a:115c:a1e0::a01:2b3c",
    "dns_name": "remote-ollama.tail1234.ts.net", "hostname": "remote-ollama",
    "tags": ["tag:ai-server"], "magicdns_suffix": "tail1234.ts.net",
    "peers": {"laptop.tail1234.ts.net": "100.88.77.66"}, "error": None,
}
NOTHING_KNOWN = {
    "backend_state": None, "ipv4": None, "ipv6": None, "dns_name": None, "hostname": None,
    "tags": [], "magicdns_suffix": None, "peers": {}, "error": None,
}
# tailscale status --json prints no final newline: the exit marker shares the last line.
RUNNING_JSON = capture("tailscale-status-json-running-FIXTURE.txt").rstrip("\n")
VERSION_WARNING = 'Warning: client version "1.88.3" != tailscaled server version "1.86.2"'  # FIXTURE


@pytest.mark.parametrize("output", [RUNNING_JSON, VERSION_WARNING + "\n" + RUNNING_JSON])
def test_tailscale_status_reads_running_node(output):
    assert TailscaleStatus().process(fact_output(output, 0)) == RUNNING


def test_tailscale_status_reads_backend_state_from_truncated_json(caplog):
    value = TailscaleStatus().process(fact_output(capture("tailscale-status-json-needslogin-partial.txt"), 0))
    assert value == {**NOTHING_KNOWN, "installed": True, "daemon_running": True, "backend_state": "NeedsLogin"}
    assert warnings(caplog)


def test_tailscale_status_daemon_unreachable_is_not_running_with_error():
    output = capture("tailscale-cli-daemon-unreachable.txt")
    value = TailscaleStatus().process(fact_output(output, 1))
    assert value == {**NOTHING_KNOWN, "installed": True, "daemon_running": False, "error": output.strip()}


@pytest.mark.parametrize("cli_mode", ["missing", "not executable"])
def test_tailscale_status_without_executable_cli_is_not_installed(tmp_path, cli_mode):
    cli = tmp_path / "tailscale"
    if cli_mode == "not executable":
        cli.write_text("#!/bin/sh\necho should not run\n")
    value, failed = load_fact(TailscaleStatus, tmp_path, cli=str(cli))
    assert value == {**NOTHING_KNOWN, "installed": False, "daemon_running": False}
    assert not failed


def test_tailscale_status_runs_the_app_binary_in_cli_mode(tmp_path):
    # Like the app: GUI start-up text and exit 0 unless TAILSCALE_BE_CLI=1.
    recording = tmp_path / "status.json"
    recording.write_text(RUNNING_JSON)
    app_dir = tmp_path / "Tailscale's App.app" / "Contents" / "MacOS"
    cli = make_tool(
        app_dir, "Tailscale",
        f'[ "$TAILSCALE_BE_CLI" = 1 ] || {{ echo "Tailscale GUI starting"; exit 0; }}\n'
        f'[ "$*" = "status --json" ] && exec cat {shlex.quote(str(recording))}\nexit 2',
    )
    assert load_fact(TailscaleStatus, tmp_path, cli=str(cli)) == (RUNNING, False)
