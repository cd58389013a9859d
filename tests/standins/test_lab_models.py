"""Models on a lab host: registry.ollama.ai over HTTPS from the host, the switches that break it, the disks.

A two-host lab (first free slot, as test_lab_host.py starts it). Host 1 runs
the Ollama stand-in as Homebrew installs it (``brew install ollama``, then
``ollama serve`` as admin), so its pulls go where the deploy's would: to the
host's registry stand-in, by the name in its /etc/hosts, trusting the lab CA.
A switch of one host leaves the other alone; host 2 takes the reboots and the
volumes, so host 1's Ollama keeps running.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest

from lab.standins import ollama_catalogue as catalogue
from tests.standins.test_lab_host import LAB_MARKS, start_lab

pytestmark = LAB_MARKS

MANIFEST_URL = "https://registry.ollama.ai/v2/library/{model}/manifests/{tag}"
ACCEPT = "Accept: application/vnd.docker.distribution.manifest.v2+json"
OLLAMA = "/opt/homebrew/bin/ollama"
MODELS = "/Users/admin/.ollama/models"
LLAMA, QWEN_7B = catalogue.named("llama3.2:latest"), catalogue.named("qwen2.5-coder:7b")


@pytest.fixture(scope="module")
def mac_lab(tmp_path_factory):
    yield from start_lab(tmp_path_factory.mktemp("lab") / "state", hosts=2)


@pytest.fixture(scope="module")
def ollama(mac_lab):
    """Host 1's Ollama, installed by brew and started by admin on 127.0.0.1:11434 (pulls take a second)."""
    assert mac_lab.ssh(1, "/opt/homebrew/bin/brew install ollama").returncode == 0
    serve = (f"OLLAMA_HOST=127.0.0.1:11434 OLLAMA_STANDIN_PULL_SECONDS=1 nohup {OLLAMA} serve "
             "</dev/null >/tmp/ollama-serve.log 2>&1 &")
    assert mac_lab.ssh(1, serve).returncode == 0
    ready = mac_lab.ssh(1, "for i in $(seq 50); do curl -s -m 1 http://127.0.0.1:11434/ && exit 0; sleep 0.1; done; exit 1")
    assert ready.returncode == 0, mac_lab.ssh(1, "cat /tmp/ollama-serve.log").stdout
    return mac_lab


def curl_status(mac_lab, index: int, model: str = "llama3.2", tag: str = "latest") -> tuple[str, int]:
    """(HTTP status curl saw, curl's exit status) of the manifest request the deploy makes, from a host."""
    url = MANIFEST_URL.format(model=model, tag=tag)
    done = mac_lab.ssh(index, f"curl -s -o /dev/null -w '%{{http_code}}' -H '{ACCEPT}' {url}")
    return done.stdout, done.returncode


def pull(mac_lab, model: str) -> tuple[int, list[dict]]:
    """POST /api/pull on host 1's Ollama, as the deploy sends it: (curl's exit status, the NDJSON lines)."""
    done = mac_lab.ssh(1, f"curl -sS -N -m 60 http://127.0.0.1:11434/api/pull -d '{json.dumps({'model': model})}'")
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines()]


def available_kb(mac_lab, folder: str) -> int:
    """df's Available (1024-byte blocks) for a folder, as the deploy reads it (``df -Pk``)."""
    row = mac_lab.ssh(1, f"df -Pk {folder} | tail -n 1").stdout.split()
    return int(row[3])


def test_the_registry_serves_the_catalogues_exact_manifest_over_https(mac_lab):
    url = MANIFEST_URL.format(model="llama3.2", tag="latest")
    done = mac_lab.ssh(1, f"curl -s -H '{ACCEPT}' {url} | base64")
    manifest = base64.b64decode(done.stdout)
    assert manifest == LLAMA.manifest()
    assert hashlib.sha256(manifest).hexdigest()[:12] == "a80c4f17acd5"


def test_the_registry_certificate_is_the_lab_cas_and_the_host_trusts_it(mac_lab):
    verbose = mac_lab.ssh(2, f"curl -sv -o /dev/null {MANIFEST_URL.format(model='llama3.2', tag='latest')}").stderr
    assert "private-ollama lab CA" in verbose and "SSL certificate verify ok" in verbose


@pytest.mark.parametrize(("model", "tag"), [("llama3.2", "nope"), ("no-such-model", "latest")])
def test_an_unknown_name_or_tag_is_a_404(mac_lab, model, tag):
    assert curl_status(mac_lab, 1, model, tag) == ("404", 0)


@pytest.fixture
def offline(mac_lab):
    done = mac_lab.labctl("registry", "offline", "--host", "1")
    assert done.returncode == 0, done.stderr
    yield
    assert mac_lab.labctl("registry", "online", "--host", "1").returncode == 0


def test_offline_the_registry_cannot_be_resolved_from_that_host_only(mac_lab, offline):
    assert curl_status(mac_lab, 1) == ("000", 6)  # curl: Could not resolve host
    assert curl_status(mac_lab, 2) == ("200", 0)


def test_offline_a_pull_fails_with_ollamas_words(ollama, offline):
    status, lines = pull(ollama, "llama3.2")
    assert (status, lines) == (0, [{"status": "pulling manifest"}, {"error": (
        'pull model manifest: Get "https://registry.ollama.ai/v2/library/llama3.2/manifests/latest": '
        "dial tcp: lookup registry.ollama.ai: no such host")}])
    cli = ollama.ssh(1, f"{OLLAMA} pull llama3.2")
    assert cli.returncode == 1 and cli.stderr.endswith("dial tcp: lookup registry.ollama.ai: no such host\n")


def test_online_again_the_registry_answers(mac_lab):
    assert mac_lab.labctl("registry", "online", "--host", "1").returncode == 0
    assert curl_status(mac_lab, 1) == ("200", 0)


def test_the_registry_comes_back_after_a_reboot_and_offline_stays_offline(mac_lab):
    assert mac_lab.labctl("reboot", "--host", "2").returncode == 0
    assert curl_status(mac_lab, 2) == ("200", 0)
    assert mac_lab.labctl("registry", "offline", "--host", "2").returncode == 0
    try:
        assert mac_lab.labctl("reboot", "--host", "2").returncode == 0
        assert curl_status(mac_lab, 2) == ("000", 6)
    finally:
        assert mac_lab.labctl("registry", "online", "--host", "2").returncode == 0
    assert curl_status(mac_lab, 2) == ("200", 0)


def test_a_pull_lands_in_the_store_with_the_real_sizes(ollama):
    status, lines = pull(ollama, "llama3.2")
    assert (status, lines[-1]) == (0, {"status": "success"})
    listed = ollama.ssh(1, f"{OLLAMA} list").stdout.splitlines()
    assert listed[1].split()[:4] == ["llama3.2:latest", "a80c4f17acd5", "2.0", "GB"]
    sizes = ollama.ssh(1, f"stat -f '%z' {MODELS}/blobs/sha256-{LLAMA.layers[0].digest[7:]}").stdout.split()
    assert sizes == [str(LLAMA.layers[0].size)]


@pytest.fixture
def full_disk(ollama):
    done = ollama.labctl("disk", "full", "--host", "1")
    assert done.returncode == 0, done.stderr
    yield
    assert ollama.labctl("disk", "free", "--host", "1").returncode == 0


def test_a_full_disk_has_no_room_for_a_model_and_a_pull_fails_on_its_first_write(ollama, full_disk):
    assert available_kb(ollama, MODELS) <= 1024 < available_kb(ollama, "/tmp")
    status, lines = pull(ollama, "qwen2.5-coder:7b")
    blob = f"{MODELS}/blobs/sha256-{QWEN_7B.layers[0].digest[7:]}"
    assert (status, lines[-1]) == (0, {"error": f"write {blob}-partial: no space left on device"})


def test_freed_the_disk_takes_the_pull_to_its_end(ollama):
    assert ollama.labctl("disk", "free", "--host", "1").returncode == 0
    assert available_kb(ollama, MODELS) > 500 * 10**6  # a Mac's 1 TB disk
    status, lines = pull(ollama, "qwen2.5-coder:7b")
    assert (status, lines[-1]) == (0, {"status": "success"})
    assert ollama.ssh(1, f"ls {MODELS}/blobs | grep -c partial").stdout.strip() == "0"


@pytest.fixture
def volume(mac_lab):
    done = mac_lab.labctl("volume", "attach", "Models", "--host", "2", "--size", "8G")
    assert done.returncode == 0, done.stderr
    yield "/Volumes/Models"
    mac_lab.labctl("volume", "detach", "Models", "--host", "2")


def test_an_attached_volume_is_a_disk_of_its_own_for_admin(mac_lab, volume):
    row = mac_lab.ssh(2, f"df -Pk {volume} | tail -n 1").stdout.split()
    assert (row[1], row[-1]) == (str(8 * 1024 * 1024), volume)
    assert mac_lab.ssh(2, f"mkdir {volume}/ollama && stat -f '%Su:%Sg' {volume}/ollama").stdout.strip() == "admin:staff"
    assert mac_lab.ssh(1, f"test -e {volume}").returncode == 1  # host 2's disk only
    assert mac_lab.ssh(2, "readlink '/Volumes/Macintosh HD'").stdout.strip() == "/"


def test_only_root_makes_folders_in_volumes(mac_lab):
    done = mac_lab.ssh(2, "mkdir /Volumes/Models")
    assert done.returncode == 1 and "Permission denied" in done.stderr


def test_a_volume_keeps_its_files_across_a_reboot(mac_lab, volume):
    assert mac_lab.ssh(2, f"echo kept > {volume}/note").returncode == 0
    assert mac_lab.labctl("reboot", "--host", "2").returncode == 0
    assert mac_lab.ssh(2, f"cat {volume}/note").stdout == "kept\n"


def test_a_busy_volume_cannot_be_detached(mac_lab, volume):
    mac_lab.ssh(2, f"cd {volume} && nohup sleep 30 </dev/null >/dev/null 2>&1 &")
    try:
        done = mac_lab.labctl("volume", "detach", "Models", "--host", "2")
        assert done.returncode == 1 and re.search(r"busy", done.stderr), done.stderr
    finally:
        mac_lab.exec(2, "pkill -x sleep")


def test_a_detached_volume_is_gone_from_volumes(mac_lab, volume):
    done = mac_lab.labctl("volume", "detach", "Models", "--host", "2")
    assert done.returncode == 0, done.stderr
    assert mac_lab.ssh(2, f"test -e {volume}").returncode == 1
    assert mac_lab.ssh(2, f"df -Pk {volume}/ollama").returncode == 1
    again = mac_lab.labctl("volume", "detach", "Models", "--host", "2")
    assert again.returncode == 1 and "no volume Models is attached" in again.stderr
