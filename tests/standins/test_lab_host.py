"""The lab host: reached over real SSH like a Mac, private to itself, gone without a trace on `down`.

Brings up a two-host lab in a temporary state dir (PRIVATE_OLLAMA_LAB_DIR) with
`lab/labctl`, and drives it only the way the deploy and the other suites do:
ssh with the generated ssh_config, `labctl exec`, `labctl client`. The lab takes
the first free slot, next to any other lab running (`make lab`'s, say): names
and addresses come from its lab.json. The `Lab` helper, `start_lab` and the
marks are shared with test_brew_tailscale.py, test_lab_slots.py and
test_lab_models.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab.host.rootfs import hidden_paths

LABCTL = Path(__file__).resolve().parents[2] / "lab" / "labctl"
MAC_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
TIMEOUT_S = 60

LAB_MARKS = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root: it makes network and mount namespaces"),
]
pytestmark = LAB_MARKS


@dataclass
class Lab:
    """A running lab and the ways in: ssh as admin, exec as root, the tailnet client."""

    state: Path
    info: dict

    def host(self, index: int) -> dict:
        return self.info["hosts"][index - 1]

    def namespaces(self) -> set[str]:
        return {self.info["client_netns"], *(host["netns"] for host in self.info["hosts"])}

    def labctl(self, *args: str) -> subprocess.CompletedProcess:
        return labctl(self.state, *args)

    def ssh(self, index: int, command: str, *options: str) -> subprocess.CompletedProcess:
        """`command` as admin over SSH. Plain calls share one connection per host (each SSH
        handshake costs ~0.3 s); calls with options get a connection of their own."""
        shared = ["-o", "ControlMaster=auto", "-o", f"ControlPath={self.state}/ssh-%C", "-o", "ControlPersist=60"]
        argv = ["ssh", "-F", self.info["ssh_config"], "-o", "BatchMode=yes", *(options or shared)]
        done = subprocess.run([*argv, self.host(index)["name"], command], capture_output=True, text=True,
                              timeout=TIMEOUT_S, check=False, stdin=subprocess.DEVNULL)  # fmt: skip
        return done

    def exec(self, index: int, command: str) -> subprocess.CompletedProcess:
        return self.labctl("exec", "--host", str(index), "--", "sh", "-c", command)

    def client(self, *command: str) -> subprocess.CompletedProcess:
        return self.labctl("client", "--", *command)


def labctl(state: Path, *args: str, slot: int | None = None) -> subprocess.CompletedProcess:
    """labctl on the lab in `state`, with PRIVATE_OLLAMA_LAB_SLOT=`slot` (by default unset: `up` takes a free slot)."""
    env = {name: value for name, value in os.environ.items() if name != "PRIVATE_OLLAMA_LAB_SLOT"}
    env["PRIVATE_OLLAMA_LAB_DIR"] = str(state)
    if slot is not None:
        env["PRIVATE_OLLAMA_LAB_SLOT"] = str(slot)
    return subprocess.run([str(LABCTL), *args], env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


def start_lab(state: Path, hosts: int):
    """Up for the duration of a module, then down (whatever the tests did)."""
    up = labctl(state, "up", "--hosts", str(hosts))
    try:
        assert up.returncode == 0, up.stderr
        yield Lab(state, json.loads((state / "lab.json").read_text()))
    finally:
        down = labctl(state, "down")
        assert down.returncode == 0, down.stderr


@pytest.fixture(scope="module")
def mac_lab(tmp_path_factory):
    yield from start_lab(tmp_path_factory.mktemp("lab") / "state", hosts=2)


def running(pid: int) -> bool:
    """Alive and not a zombie (the machine's init reaps orphans in its own time)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def namespaces() -> set[str]:
    listed = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {entry["name"] for entry in json.loads(listed or "[]")}


def link_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", "dev", name], capture_output=True, check=False).returncode == 0


def route_device(address: str, lab: Lab | None = None) -> str:
    """The interface the machine (or, given a lab, its tailnet client) sends `address` through."""
    argv = ["ip", "-j", "route", "get", address]
    done = lab.client(*argv) if lab else subprocess.run(argv, capture_output=True, text=True, check=False)
    return json.loads(done.stdout)[0]["dev"] if done.returncode == 0 else ""


def test_labctl_needs_root():
    with tempfile.TemporaryDirectory(dir="/tmp") as copy:  # a copy nobody can read, wherever the checkout is
        os.chmod(copy, 0o755)
        lab = Path(copy) / "lab"  # labctl imports the lab from the project's root, as `lab.host.*`
        shutil.copytree(LABCTL.parent / "host", lab / "host")
        shutil.copy(LABCTL.parent / "__init__.py", lab)
        shutil.copy(LABCTL, lab)
        done = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", f"{lab}/labctl",
                               "status"], capture_output=True, text=True, timeout=TIMEOUT_S, check=False)  # fmt: skip
    assert done.returncode == 1
    assert "needs root" in done.stderr and "namespaces" in done.stderr


@pytest.mark.parametrize("index", [1, 2])
def test_ssh_logs_in_as_admin_with_the_generated_config(mac_lab, index):
    done = mac_lab.ssh(index, "id -un; hostname")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["admin", mac_lab.host(index)["name"]]


def test_ssh_config_checks_host_keys_strictly(mac_lab):
    effective = subprocess.run(["ssh", "-G", "-F", mac_lab.info["ssh_config"], "lab-mac-1"], capture_output=True,
                               text=True, check=True).stdout.splitlines()  # fmt: skip
    assert "stricthostkeychecking true" in effective
    assert f"userknownhostsfile {mac_lab.info['known_hosts']}" in effective


def test_ssh_refuses_a_host_whose_key_changed(mac_lab, tmp_path):
    # host 2's key filed under host 1's name: a host key that does not match.
    known = [line.split(" ", 1) for line in Path(mac_lab.info["known_hosts"]).read_text().splitlines()]
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"{known[0][0]} {known[1][1]}\n")
    done = mac_lab.ssh(1, "true", "-o", f"UserKnownHostsFile={wrong}")
    assert done.returncode == 255
    assert "Host key verification failed" in done.stderr


@pytest.mark.parametrize(
    "options",
    [("-l", "root"), ("-o", "PreferredAuthentications=password,keyboard-interactive")],
    ids=["root", "password"],
)
def test_sshd_refuses_root_and_passwords(mac_lab, options):
    done = mac_lab.ssh(1, "true", *options)
    assert done.returncode == 255
    assert "Permission denied" in done.stderr


def test_non_interactive_ssh_has_the_macs_path(mac_lab):
    assert mac_lab.ssh(1, "echo $PATH").stdout.strip() == MAC_PATH


@pytest.mark.parametrize(
    "command, expected",
    [
        ("uname -m", r"arm64"),
        ("uname -s", r"Darwin"),
        ("uname -sm", r"Darwin arm64"),
        ("uname -r", r"\d+\.\d+\.0"),
        ("uname -a", r"Darwin lab-mac-1 \d+\.\d+\.0 Darwin Kernel Version .* arm64"),
        ("sw_vers", r"ProductName:\t\tmacOS\nProductVersion:\t\t\d+\.\d+(\.\d+)?\nBuildVersion:\t\t\w+"),
        ("sw_vers -productName", r"macOS"),
        ("id -u; id -gn; echo $HOME", r"501\nstaff\n/Users/admin"),
        ("id -Gn", r"staff admin"),
        ("sudo -n id -u", r"0"),
        ("ls -ld /Library/LaunchDaemons | awk '{print $3\":\"$4}'", r"root:wheel"),
        ("brew_is_not_in_path=$(command -v brew); echo \"[$brew_is_not_in_path]\"", r"\[\]"),
        ("/opt/homebrew/bin/brew --version", r"Homebrew 5\.1\.15"),
    ],
)
def test_answers_like_a_mac(mac_lab, command, expected):
    done = mac_lab.ssh(1, command)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(expected, done.stdout.rstrip("\n")), done.stdout


@pytest.fixture
def macos_14(mac_lab):
    """Host 2 says it runs macOS 14.6.1 (23G93), as a test would fake an older Mac."""
    plist = "/System/Library/CoreServices/SystemVersion.plist"
    fake = {"ProductName": "macOS", "ProductVersion": "14.6.1", "ProductBuildVersion": "23G93"}
    mac_lab.exec(2, f"cp {plist} {plist}.saved")
    mac_lab.labctl("exec", "--host", "2", "--", "python3", "-c",
               f"import plistlib; plistlib.dump({fake!r}, open({plist!r}, 'wb'))")  # fmt: skip
    yield
    mac_lab.exec(2, f"mv {plist}.saved {plist}")


@pytest.mark.parametrize(
    "command, expected",
    [("sw_vers -productVersion", "14.6.1"), ("sw_vers -buildVersion", "23G93"), ("uname -r", "23.6.0")],
)
def test_macos_version_comes_from_the_hosts_system_version_file(mac_lab, macos_14, command, expected):
    assert mac_lab.ssh(2, command).stdout.strip() == expected


@pytest.mark.parametrize("path", ["/Users", "/opt/homebrew", "/Library", "/Applications", "/System"])
def test_mac_folders_are_the_hosts_own(mac_lab, path):
    assert mac_lab.ssh(1, f"test -d {path}").returncode == 0
    assert not Path(path).exists()


def test_files_written_in_one_host_stay_there(mac_lab):
    assert mac_lab.ssh(1, "touch /opt/homebrew/only-on-1").returncode == 0
    assert mac_lab.ssh(2, "test -e /opt/homebrew/only-on-1").returncode == 1
    assert not Path("/opt/homebrew/only-on-1").exists()


def test_the_project_and_the_lab_state_are_not_on_the_mac(mac_lab):
    project = LABCTL.resolve().parents[1]  # wherever the checkout is: CI clones it elsewhere
    done = mac_lab.exec(1, f"ls {project} {LABCTL.parent} {mac_lab.state}")
    assert done.returncode != 0
    assert done.stdout == ""
    if hidden_paths((project,)) == [project]:  # a whiteout of its own (not under /root, /tmp, ...)
        assert mac_lab.exec(1, f"test -d {project.parent}").returncode == 0  # hidden, not its neighbours


def test_up_refuses_a_state_dir_the_host_needs_before_making_anything():
    state = Path("/var/lib/lab")  # the host's own lab dir: a whiteout there would break its boot
    assert not state.exists()
    before = namespaces()
    done = labctl(state, "up")
    assert done.returncode == 1
    assert "cannot hide /var/lib/lab" in done.stderr and "PRIVATE_OLLAMA_LAB_DIR" in done.stderr
    assert not state.exists() and namespaces() == before


def test_tailscale0_has_no_address_before_login(mac_lab):
    done = mac_lab.exec(1, "ip -o addr show dev tailscale0")
    assert done.returncode == 0 and " inet" not in done.stdout
    bind = mac_lab.exec(1, f"python3 -c \"import socket; socket.socket().bind(('{mac_lab.host(1)['tailscale_ip']}', 11434))\"")
    assert "Cannot assign requested address" in bind.stderr


@pytest.fixture
def tailnet_listener(mac_lab):
    """Host 1 as after a login (its Tailscale address on tailscale0), a TCP listener on every address."""
    ip = mac_lab.host(1)["tailscale_ip"]
    mac_lab.exec(1, f"ip addr add {ip}/32 dev tailscale0 && ip link set tailscale0 up && "
                "ip route add 100.64.0.0/10 dev tailscale0")  # fmt: skip
    mac_lab.exec(1, "nohup python3 -m http.server --bind 0.0.0.0 8123 >/dev/null 2>&1 &")
    try:
        yield 8123
    finally:
        # [.]: the pattern must not match this very shell's command line
        mac_lab.exec(1, "pkill -f 'http[.]server --bind'; ip addr flush dev tailscale0; ip link set tailscale0 down")


def test_client_reaches_the_host_through_its_tailscale_address(mac_lab, tailnet_listener):
    url = f"http://{mac_lab.host(1)['tailscale_ip']}:{tailnet_listener}/"
    done = mac_lab.client("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--retry", "5", "--retry-connrefused",
                      "--retry-delay", "1", "--max-time", "10", url)  # fmt: skip
    assert done.stdout == "200"


@pytest.mark.parametrize("port", [22, "listener"], ids=["sshd", "listener"])
def test_client_cannot_reach_the_host_by_any_other_address(mac_lab, tailnet_listener, port):
    host = mac_lab.host(1)
    port = tailnet_listener if port == "listener" else port
    # Even with a route to the host's en0 through its tailscale0, tailscale0 only lets in its own address.
    to_host = route_device(host["tailscale_ip"], mac_lab)  # the client's end of the host's tailscale0
    route = ["ip", "route", "add", f"{host['ssh_hostname']}/32", "dev", to_host, "src", mac_lab.info["client_tailscale_ip"]]
    assert mac_lab.client(*route).returncode == 0
    try:
        probe = f"import socket; socket.create_connection(('{host['ssh_hostname']}', {port}), timeout=1)"
        done = mac_lab.client("python3", "-c", probe)
    finally:
        mac_lab.client("ip", "route", "del", f"{host['ssh_hostname']}/32")
    assert done.returncode != 0
    assert re.search(r"^(TimeoutError|ConnectionRefusedError|OSError)\b", done.stderr, re.MULTILINE), done.stderr


def test_client_has_no_route_to_the_ssh_network(mac_lab):
    probe = f"import socket; socket.create_connection(('{mac_lab.host(1)['ssh_hostname']}', 22), timeout=1)"
    done = mac_lab.client("python3", "-c", probe)
    assert "Network is unreachable" in done.stderr


def test_exec_runs_as_root_inside_the_chosen_host(mac_lab):
    done = mac_lab.labctl("exec", "--host", "2", "--", "sh", "-c", "id -u; hostname; echo $PATH")
    assert done.stdout.split() == ["0", "lab-mac-2", MAC_PATH]


def gui_sessions(mac_lab) -> list[str]:
    return mac_lab.exec(1, "cat /var/db/launchd-standin/gui-sessions").stdout.split()


def test_gui_session_of_uid_501_exists_by_default(mac_lab):
    assert gui_sessions(mac_lab) == ["501"]


@pytest.mark.parametrize("verb, expected", [("gui-logout", []), ("gui-login", ["501"])])
def test_gui_login_and_logout_toggle_the_session(mac_lab, verb, expected):
    assert mac_lab.labctl(verb, "--host", "1").returncode == 0
    assert gui_sessions(mac_lab) == expected


def test_up_again_reports_up_without_restarting(mac_lab):
    pids = [(mac_lab.state / "hosts" / str(i) / "pid").read_text() for i in (1, 2)]
    done = mac_lab.labctl("up")
    assert done.returncode == 0
    assert f"already up (2 host(s), slot {mac_lab.info['slot']})" in done.stdout
    assert [(mac_lab.state / "hosts" / str(i) / "pid").read_text() for i in (1, 2)] == pids


@pytest.fixture
def rebooted(mac_lab):
    """Host 2 with a file in the admin's home, a process and a file in /tmp, then rebooted without auto-login."""
    mac_lab.ssh(2, "touch ~/kept /tmp/cleared; nohup sleep 600 </dev/null >/dev/null 2>&1 &")
    done = mac_lab.labctl("reboot", "--host", "2", "--no-auto-login")
    assert done.returncode == 0, done.stderr
    yield
    mac_lab.labctl("gui-login", "--host", "2")


@pytest.mark.parametrize(
    "command, expected",
    [
        ("test -e ~/kept && echo kept", "kept"),  # the disk survives
        ("test -e /tmp/cleared || echo cleared", "cleared"),  # /tmp does not
        ("pgrep -x sleep || echo none", "none"),  # nor do processes
        ("cat /var/db/launchd-standin/gui-sessions; echo .", "."),  # no auto-login: nobody logged in
    ],
)
def test_reboot_restarts_every_process_and_keeps_the_disk(mac_lab, rebooted, command, expected):
    assert mac_lab.ssh(2, command).stdout.strip() == expected


def test_down_removes_every_namespace_mount_and_process(mac_lab):
    """Runs last: takes the module's lab down (the fixture's own `down` then proves a second one is harmless)."""
    pids = [int((mac_lab.state / "hosts" / str(i) / "pid").read_text()) for i in (1, 2)]
    links = [route_device(host["ssh_hostname"]) for host in mac_lab.info["hosts"]]  # the machine's ends of the en0s
    assert mac_lab.namespaces() <= namespaces()
    done = mac_lab.labctl("down")
    assert done.returncode == 0, done.stderr
    assert not mac_lab.namespaces() & namespaces()
    assert str(mac_lab.state) not in Path("/proc/self/mountinfo").read_text()
    assert not any(running(pid) for pid in pids)
    assert not mac_lab.state.exists()
    assert not Path("/etc/netns", mac_lab.info["client_netns"]).exists()
    assert not any(link_exists(link) for link in links), links
