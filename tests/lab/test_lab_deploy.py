"""End to end on a fresh lab Mac, in order: preflight refusals change nothing,
the deploy converges, a second apply changes nothing, a dry run plans nothing,
the host checks pass, the tailnet sees only the allowlist, every drift is
detected and repaired by one re-apply, killed services come back, the auth key
never shows, and uninstall leaves models and packages."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from private_ollama.desired_state.settings import Settings
from tests.lab.conftest import ROOT, changed
from tests.probes import probe

pytestmark = pytest.mark.lab

SETTINGS = Settings.from_data({})
PLIST_OLLAMA = "/Users/admin/Library/LaunchAgents/org.private-ollama.ollama.plist"
PLIST_HAPROXY = "/Users/admin/Library/LaunchAgents/org.private-ollama.haproxy.plist"
HAPROXY_CFG = "/Users/admin/.private-ollama/haproxy.cfg"
GUI = "gui/501"


def nothing_deployed(lab) -> bool:
    brew = lab.ssh("/opt/homebrew/bin/brew list --versions")
    return brew.stdout.strip() == "" and lab.ssh(f"test -e {PLIST_OLLAMA} || test -e {HAPROXY_CFG}").rc != 0


def test_preflight_without_auth_key_fails_with_remedy_and_changes_nothing(lab):
    run = lab.deploy(key=False)
    assert run.rc != 0
    assert "TAILSCALE_AUTHKEY is not set" in run.output and "nothing was changed" in run.output
    assert nothing_deployed(lab)


def test_preflight_without_gui_session_fails_with_remedy_and_changes_nothing(lab):
    assert lab.labctl("gui-logout").rc == 0
    try:
        run = lab.deploy()
        assert run.rc != 0
        assert "automatic login" in run.output and "service_mode = 'daemon'" in run.output
        assert nothing_deployed(lab)
    finally:
        assert lab.labctl("gui-login").rc == 0


def test_first_deploy_converges(lab):
    # As verbose as pyinfra gets: every command and its output, for the auth key test below.
    results = lab.apply_json("-vvv", "--debug")
    assert "Ensure Ollama runs as a launchd job on loopback" in changed(results)
    status, body = lab.curl("GET", "/api/version")
    assert status == 200 and "version" in body


def test_second_apply_changes_nothing(lab):
    assert changed(lab.apply_json()) == []


def test_dry_run_plans_nothing(lab):
    run = lab.drift()
    assert run.rc == 0, run.output


def test_host_checks_pass_against_the_lab(lab):
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/host",
         f"--ssh-config={lab.info['ssh_config']}", f"--hosts=ssh://{lab.host['name']}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    lab.outputs.append(run.stdout + run.stderr)
    assert run.returncode == 0, run.stdout[-4000:]
    assert " passed" in run.stdout and "skipped" not in run.stdout.splitlines()[-1]


# --- Isolation, seen from a tailnet client -------------------------------------------


@pytest.mark.parametrize("by", ["ip", "magicdns", "short name"])
@pytest.mark.parametrize("route", SETTINGS.allowed_routes, ids=lambda r: f"{r.method} {r.path}")
def test_allowed_routes_work_from_the_tailnet(lab, route, by):
    name = {"ip": lab.host["tailscale_ip"], "magicdns": lab.host["magicdns_name"],
            "short name": lab.host["magicdns_name"].split(".")[0]}[by]
    method, path, body = probe(route, "llama3.2:latest")
    status, answer = lab.curl(method, path, name, body)
    assert status == 200, answer


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/pull"), ("POST", "/api/push"), ("DELETE", "/api/delete"), ("POST", "/api/create"),
     ("POST", "/api/generate"), ("GET", "/api/ps"), ("POST", "/%61pi/pull"), ("GET", "/v1/models/../../api/ps"),
     ("POST", "/v1/messages/count_tokens"), ("GET", "/API/TAGS"), ("GET", "/api/tags/")],
)
def test_denied_routes_are_denied_from_the_tailnet(lab, method, path):
    status, body = lab.curl(method, path)
    assert status == 403 and body.startswith("{"), (status, body)


def test_only_the_proxy_port_is_open_on_the_tailscale_address(lab):
    scan = lab.client(
        "/usr/bin/python3", "-c", SCAN, lab.host["tailscale_ip"],
    )
    assert scan.rc == 0, scan.output
    assert scan.stdout.split() == [str(SETTINGS.proxy_port)]


def test_ollama_answers_on_loopback_only(lab):
    on_mac = lab.ssh(
        "for a in 127.0.0.1 " + lab.host["tailscale_ip"] + " " + lab.host["ssh_hostname"] + "; do "
        "echo $a $(curl -s -o /dev/null -w '%{http_code}' -m 3 "
        f"-H 'Host: 127.0.0.1' http://$a:{SETTINGS.ollama_port}/api/ps); done",
    )
    answers = dict(line.split() for line in on_mac.stdout.splitlines())
    assert answers["127.0.0.1"] == "200"  # Ollama itself
    assert answers[lab.host["tailscale_ip"]] == "403"  # HAProxy, which refuses /api/ps
    assert answers[lab.host["ssh_hostname"]] == "000"  # nothing listens there


# Connects to every TCP port of one address, 512 at a time; prints the open ones.
SCAN = """
import asyncio, sys
async def probe(ip, port, gate):
    async with gate:
        try:
            _, w = await asyncio.wait_for(asyncio.open_connection(ip, port), 1)
            w.close(); return port
        except (OSError, asyncio.TimeoutError):
            return None
async def main(ip):
    gate = asyncio.Semaphore(512)
    ports = await asyncio.gather(*(probe(ip, p, gate) for p in range(1, 65536)))
    print(*[p for p in ports if p])
asyncio.run(main(sys.argv[1]))
"""


# --- Drift: detected by the drift check, repaired by one re-apply ----------------------

DRIFTS = {
    "haproxy.cfg edited": (
        f"sed -i.orig 's/http-request deny/#http-request deny/' {HAPROXY_CFG}",
        "Ensure the HAProxy allowlist config is valid and live",
    ),
    "OLLAMA_HOST widened in the plist": (
        f"sed -i.orig 's/127.0.0.1:11434/0.0.0.0:11434/' {PLIST_OLLAMA}",
        "Ensure Ollama runs as a launchd job on loopback",
    ),
    "HAProxy agent booted out": (
        f"launchctl bootout {GUI}/org.private-ollama.haproxy",
        "Ensure HAProxy runs as a launchd job on the Tailscale address",
    ),
    "haproxy package removed": (
        "/opt/homebrew/bin/brew uninstall haproxy",
        "Ensure Ollama, HAProxy and Tailscale are installed with Homebrew",
    ),
}


@pytest.mark.parametrize("drift", list(DRIFTS))
def test_drift_is_detected_and_repaired_by_one_reapply(lab, drift):
    command, operation = DRIFTS[drift]
    assert lab.ssh(command).rc == 0
    detected = lab.drift()
    assert detected.rc == 2, detected.output
    assert f"drifted: {operation}: {lab.host['name']}" in detected.stdout
    assert operation in changed(lab.apply_json())
    assert lab.drift().rc == 0
    assert lab.curl("GET", "/api/tags")[0] == 200


def test_squatter_on_ollamas_port_is_stopped_and_disabled(lab):
    squatter = "application.com.electron.ollama.1234.5678"
    plist = f"/Users/admin/Library/LaunchAgents/{squatter}.plist"
    assert lab.ssh(f"launchctl bootout {GUI}/org.private-ollama.ollama").rc == 0
    lab.wait(lambda: lab.ssh("curl -s -m 1 -o /dev/null http://127.0.0.1:11434/").rc != 0, "Ollama to stop")
    made = lab.ssh(
        "/usr/bin/python3 -c \"import plistlib,sys; sys.stdout.buffer.write(plistlib.dumps({"
        f"'Label': '{squatter}', 'ProgramArguments': ['/opt/homebrew/bin/ollama', 'serve'], "
        "'RunAtLoad': True, 'KeepAlive': True}))\" > " + plist + f" && launchctl bootstrap {GUI} {plist}",
    )
    assert made.rc == 0, made.output
    lab.wait(lambda: lab.ssh("curl -s -m 1 -o /dev/null http://127.0.0.1:11434/").rc == 0, "the squatter to listen")
    detected = lab.drift()
    assert detected.rc == 2 and "Ensure nothing else holds 127.0.0.1:11434" in detected.stdout
    run = lab.deploy()
    assert run.rc == 0, run.output[-3000:]
    assert f"Stopping and disabling {GUI}/{squatter}" in run.output
    assert lab.drift().rc == 0
    assert lab.ssh(f"launchctl print {GUI}/{squatter}").rc != 0
    assert f'"{squatter}" => disabled' in lab.ssh(f"launchctl print {GUI}").stdout


# --- Recovery -----------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["haproxy", "ollama"])
def test_killed_service_comes_back(lab, service):
    target = f"{GUI}/org.private-ollama.{service}"
    pid = lab.ssh(f"launchctl print {target} | awk '$1 == \"pid\" {{print $3}}'").stdout.strip()
    assert pid.isdigit()
    assert lab.ssh(f"kill -9 {pid}").rc == 0
    lab.wait(lambda: lab.curl("GET", "/api/tags")[0] == 200, f"{service} to come back", timeout=30)
    new_pid = lab.ssh(f"launchctl print {target} | awk '$1 == \"pid\" {{print $3}}'").stdout.strip()
    assert new_pid.isdigit() and new_pid != pid


def test_haproxy_retries_until_the_tailscale_address_exists_and_never_widens(lab):
    target = f"{GUI}/org.private-ollama.haproxy"
    assert lab.ssh("/opt/homebrew/bin/tailscale down").rc == 0
    try:
        pid = lab.ssh(f"launchctl print {target} | awk '$1 == \"pid\" {{print $3}}'").stdout.strip()
        assert lab.ssh(f"kill -9 {pid}").rc == 0
        # Without its address HAProxy cannot bind: it exits and launchd starts it again.
        lab.wait(lambda: "last exit code = 1" in lab.ssh(f"launchctl print {target}").stdout,
                 "HAProxy to fail to bind", timeout=30)
        listeners = lab.ssh("lsof -nP -iTCP:11434 -sTCP:LISTEN").stdout
        assert "*:11434" not in listeners and "0.0.0.0:11434" not in listeners
    finally:
        up = lab.ssh("/opt/homebrew/bin/tailscale up --hostname=remote-ollama --advertise-tags=tag:ai-server")
        assert up.rc == 0, up.output
    lab.wait(lambda: lab.curl("GET", "/api/tags")[0] == 200, "HAProxy to bind the address again", timeout=45)


def test_clients_get_503_json_while_ollama_is_down(lab):
    assert lab.ssh(f"launchctl bootout {GUI}/org.private-ollama.ollama").rc == 0
    try:
        lab.wait(lambda: lab.curl("GET", "/api/tags")[0] == 503, "a 503 from the proxy", timeout=15)
        status, body = lab.curl("GET", "/api/tags")
        assert status == 503 and body.startswith("{")
    finally:
        assert lab.deploy().rc == 0
    assert lab.curl("GET", "/api/tags")[0] == 200


def test_reapply_repairs_drift_and_appends_a_report_line(lab):
    report = ROOT / SETTINGS.reapply_report
    before = report.read_text().count("\n") if report.exists() else 0
    assert lab.ssh(f"launchctl bootout {GUI}/org.private-ollama.haproxy").rc == 0
    run = lab._run([sys.executable, "-m", "private_ollama", "reapply", "--inventory", "lab/inventory.py"])
    assert run.rc == 0, run.output
    lines = report.read_text().splitlines()
    assert len(lines) == before + 1
    line = json.loads(lines[-1])
    assert line["hosts"] == [lab.host["name"]] and line["errors"] == []
    assert [c["operation"] for c in line["changed"]] == ["Ensure HAProxy runs as a launchd job on the Tailscale address"]
    assert lab.drift().rc == 0


# --- Secrets and uninstall ----------------------------------------------------------------


def test_auth_key_never_appears_in_any_output_or_file(lab):
    assert all(lab.authkey not in output for output in lab.outputs)
    grep = subprocess.run(
        ["grep", "-rlF", "--exclude=authkey", lab.authkey, str(lab.state_dir), str(ROOT / "build")],
        capture_output=True, text=True, check=False,
    )
    assert grep.stdout == "", f"the auth key was written to: {grep.stdout}"


def test_uninstall_removes_the_services_and_keeps_models_and_packages(lab):
    assert lab.ssh("mkdir -p /Users/admin/.ollama/models && touch /Users/admin/.ollama/models/keep").rc == 0
    run = lab.pyinfra("uninstall.py")
    assert run.rc == 0, run.output[-3000:]
    for plist in (PLIST_OLLAMA, PLIST_HAPROXY, HAPROXY_CFG):
        assert lab.ssh(f"test -e {plist}").rc != 0
    assert lab.ssh(f"launchctl print {GUI}/org.private-ollama.ollama").rc != 0
    assert lab.ssh("test -e /Users/admin/.ollama/models/keep").rc == 0
    assert "haproxy" in lab.ssh("/opt/homebrew/bin/brew list --versions").stdout
    assert lab.curl("GET", "/api/tags")[0] == 0  # nothing listens any more


# --- Daemon mode ----------------------------------------------------------------------------


def test_daemon_mode_converges_and_passes_the_host_checks(lab):
    assert lab.labctl("gui-logout").rc == 0  # LaunchDaemons need no GUI session
    results = lab.apply_json("--data", "service_mode=daemon")
    assert "Ensure Ollama runs as a launchd job on loopback" in changed(results)
    assert changed(lab.apply_json("--data", "service_mode=daemon")) == []
    assert lab.ssh("launchctl print system/org.private-ollama.ollama").rc == 0
    assert lab.curl("GET", "/api/tags")[0] == 200
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/host",
         f"--ssh-config={lab.info['ssh_config']}", f"--hosts=ssh://{lab.host['name']}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:]


def test_daemon_mode_comes_back_after_a_reboot_without_login(lab):
    assert lab.labctl("reboot").rc == 0
    lab.wait(lambda: lab.curl("GET", "/api/tags")[0] == 200, "the services to start at boot", timeout=60)
