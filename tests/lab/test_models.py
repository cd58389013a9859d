"""Models as desired state, end to end on a fresh lab Mac, in order: a detached models volume and an
unknown model fail preflight and pull nothing; the first apply pulls the declared models with their
progress in pyinfra's output; a second apply changes nothing; a model removed by hand is drift and comes
back; an unreachable registry and a disk that fills mid-pull fail with Ollama's words and the remedy; a
pull cut short by its time limit is resumed by the next apply; with the allowlist following the declaration (set in an inventory's
host data) an undeclared model on the Mac is refused from the tailnet; prune unloads and removes it;
status lists them. (Uninstall keeping the models is test_lab_deploy.py's.)

The lab's Ollama pulls from its registry.ollama.ai stand-in (lab/README.md), whose log says what was
downloaded: ``... GET /v2/library/NAME/blobs/sha256:HEX 206 range=bytes=START-END ...``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.lab.conftest import ROOT, changed

pytestmark = pytest.mark.lab

MODELS = ["llama3.2", "nomic-embed-text"]
DECLARED = f"--data=ollama_models={json.dumps(MODELS)}"
OLLAMA = "OLLAMA_HOST=127.0.0.1:11434 /opt/homebrew/bin/ollama"
REGISTRY_LOG = "/var/log/ollama-registry.log"
BLOB_GET = re.compile(r" GET /v2/library/(?P<model>[^/]+)/blobs/(?P<digest>\S+) 20[06] range=(?:bytes=(?P<start>\d+)-|-)")


def on_the_mac(lab) -> set[str]:
    """The models `ollama list` shows on the Mac."""
    listed = lab.ssh(f"{OLLAMA} list")
    assert listed.rc == 0, listed.output
    return {line.split()[0] for line in listed.stdout.splitlines()[1:] if line.strip()}


def downloads(lab, model: str) -> list[dict]:
    """The blob downloads of ``model`` the registry served so far, in order: digest and range start."""
    log = lab.sh(f"cat {REGISTRY_LOG} 2>/dev/null").stdout
    return [{"digest": found["digest"], "start": int(found["start"] or 0)}
            for found in map(BLOB_GET.search, log.splitlines()) if found and found["model"] == model]


def deploy_while(lab, switch: str, on: str, off: str):
    """The deploy of the declared models with ``labctl SWITCH ON`` in force, switched back to OFF after."""
    assert lab.labctl(switch, on).rc == 0
    try:
        return lab.deploy(DECLARED)
    finally:
        assert lab.labctl(switch, off).rc == 0


def nothing_pulled(lab) -> bool:
    return all(not downloads(lab, model) for model in MODELS) and lab.ssh("test -d ~/.ollama/models/blobs").rc != 0


def test_a_detached_models_volume_fails_preflight_and_pulls_nothing(lab):
    run = lab.deploy(DECLARED, "--data", "ollama_models_dir=/Volumes/Models/ollama")
    assert run.rc != 0
    assert "/Volumes/Models, which is not mounted" in run.output and "attach the disk" in run.output
    assert "nothing was changed" in run.output
    assert nothing_pulled(lab)
    assert lab.ssh("/opt/homebrew/bin/brew list --versions").stdout.strip() == ""


def test_an_unknown_model_fails_preflight_with_ollamas_words_and_pulls_nothing(lab):
    run = lab.deploy(f"--data=ollama_models={json.dumps([*MODELS, 'llama3.2:no-such-tag'])}")
    assert run.rc != 0
    assert "llama3.2:no-such-tag is not in the registry" in run.output
    assert "pull model manifest: file does not exist" in run.output and "nothing was changed" in run.output
    assert nothing_pulled(lab)


def test_the_first_apply_pulls_the_declared_models_showing_their_progress(lab):
    run = lab.deploy(DECLARED)
    assert run.rc == 0, run.output[-3000:]
    # The pull's own lines, as they came: the layer, a percentage and the bytes of its size.
    assert re.search(r"\] llama3\.2:latest: pulling [0-9a-f]{12} \d{1,3}% \(\S+ \S+ of 2\.0 GB\)", run.output), run.output
    assert "] nomic-embed-text:latest: pulled" in run.output
    assert on_the_mac(lab) == {"llama3.2:latest", "nomic-embed-text:latest"}


def test_a_second_apply_changes_nothing_and_asks_the_registry_for_nothing(lab):
    before = lab.sh(f"wc -l < {REGISTRY_LOG}").stdout
    assert changed(lab.apply_json(DECLARED)) == []
    assert lab.sh(f"wc -l < {REGISTRY_LOG}").stdout == before  # a model that is there makes no network call


def test_with_updates_on_a_model_the_registry_holds_unchanged_is_no_change(lab):
    assert changed(lab.apply_json(DECLARED, "--data", "ollama_models_update=true")) == []


def test_a_model_removed_by_hand_is_drift_and_one_apply_pulls_it_back(lab):
    assert lab.ssh(f"{OLLAMA} rm nomic-embed-text").rc == 0
    drift = lab.drift(DECLARED)
    assert drift.rc == 2, drift.output
    assert "drifted: Ensure the model nomic-embed-text:latest is on the Mac: lab-mac-1" in drift.stdout
    assert DECLARED in drift.stdout  # the repair it names is the deploy with the same data
    assert changed(lab.apply_json(DECLARED)) == ["Ensure the model nomic-embed-text:latest is on the Mac"]
    assert lab.drift(DECLARED).rc == 0


def test_an_unreachable_registry_fails_the_pull_with_ollamas_words_and_the_remedy(lab):
    assert lab.ssh(f"{OLLAMA} rm nomic-embed-text").rc == 0
    run = deploy_while(lab, "registry", "offline", "online")
    assert run.rc != 0
    assert "cannot tell the size of nomic-embed-text:latest before pulling it" in run.output  # preflight
    assert "dial tcp: lookup registry.ollama.ai: no such host" in run.output
    assert "the Mac cannot reach the registry" in run.output and "the next apply resumes the pull" in run.output
    assert "nomic-embed-text:latest" not in on_the_mac(lab)


def test_a_disk_that_fills_mid_pull_fails_it_with_ollamas_words_and_the_remedy(lab):
    """Preflight saw room; the disk fills while the blob downloads: Ollama's "no space left on device"
    and the remedy; with room again, the next apply pulls the model."""
    served = len(downloads(lab, "nomic-embed-text"))
    deploy = subprocess.Popen(
        [sys.executable, "-m", "pyinfra", "-y", "lab/inventory.py", "deploy.py", DECLARED], cwd=ROOT,
        env={**os.environ, "PRIVATE_OLLAMA_LAB_DIR": str(lab.state_dir), "TAILSCALE_AUTHKEY": lab.authkey},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lab.wait(lambda: any(got["start"] > 0 for got in downloads(lab, "nomic-embed-text")[served:]),
                 "the model's parts to be downloading", timeout=120)
        assert lab.labctl("disk", "full").rc == 0
        output, _ = deploy.communicate(timeout=300)
    finally:
        deploy.kill()
        lab.labctl("disk", "free")
    assert deploy.returncode != 0, output[-3000:]
    assert "no space left on device" in output and "the models volume is full" in output, output[-3000:]
    assert "nomic-embed-text:latest" not in on_the_mac(lab)
    assert changed(lab.apply_json(DECLARED)) == ["Ensure the model nomic-embed-text:latest is on the Mac"]
    assert on_the_mac(lab) == {"llama3.2:latest", "nomic-embed-text:latest"}


def test_a_pull_cut_short_by_its_time_limit_fails_and_the_next_apply_resumes_the_download(lab):
    """ollama_pull_timeout ends the pull (the deploy hangs up; Ollama keeps what it downloaded): the next
    apply downloads only what is missing, a ranged GET that starts inside a part, not at a part's start."""
    assert lab.ssh(f"{OLLAMA} rm nomic-embed-text").rc == 0
    served = len(downloads(lab, "nomic-embed-text"))
    run = lab.deploy(DECLARED, "--data", "ollama_pull_timeout=2s")
    assert run.rc != 0
    assert "did not finish within ollama_pull_timeout (2s)" in run.output and "resume" in run.output, run.output
    assert "-partial" in lab.ssh("ls ~/.ollama/models/blobs").stdout

    first = downloads(lab, "nomic-embed-text")[served:]
    part_starts = {got["start"] for got in first}
    assert changed(lab.apply_json(DECLARED)) == ["Ensure the model nomic-embed-text:latest is on the Mac"]
    resumed = downloads(lab, "nomic-embed-text")[served + len(first):]
    assert any(got["start"] not in part_starts for got in resumed), (first, resumed)
    assert on_the_mac(lab) == {"llama3.2:latest", "nomic-embed-text:latest"}


def test_a_full_disk_fails_preflight_naming_the_room_needed(lab):
    assert lab.ssh(f"{OLLAMA} rm nomic-embed-text").rc == 0
    run = deploy_while(lab, "disk", "full", "free")
    assert run.rc != 0
    assert "the models to pull (nomic-embed-text:latest) need 274 MB" in run.output
    assert "nothing was changed" in run.output
    assert changed(lab.apply_json(DECLARED)) == ["Ensure the model nomic-embed-text:latest is on the Mac"]


@pytest.fixture(scope="module")
def declared_allowlist_inventory(lab, tmp_path_factory) -> str:
    """A user's inventory: the lab's host, its models and the allowlist that follows them in host data."""
    path = tmp_path_factory.mktemp("inventory") / "inventory.py"
    path.write_text(
        "from private_ollama.inventory import lab_hosts\n\n"
        f"macs = [(name, {{**data, 'ollama_models': {MODELS!r}, 'ollama_allowed_models': 'declared'}})\n"
        "        for name, data in lab_hosts()]\n")
    return str(path)


def chat(lab, model: str) -> tuple[int, str]:
    return lab.curl("POST", "/v1/chat/completions",
                    body=json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]}))


def test_the_allowlist_following_the_declaration_refuses_an_undeclared_model_from_the_tailnet(
        lab, declared_allowlist_inventory):
    pulled = lab.ssh(f"{OLLAMA} pull gemma3")  # on the Mac by hand, and not declared
    assert pulled.rc == 0, pulled.output
    assert lab.deploy(inventory=declared_allowlist_inventory).rc == 0
    status, body = chat(lab, "gemma3")
    assert status == 403 and json.loads(body)["error"]["code"] == "model_not_allowed", body
    assert chat(lab, "llama3.2")[0] == 200
    assert chat(lab, "nomic-embed-text:latest")[0] != 403  # declared (an embedding model: Ollama says why not)
    assert lab.drift(inventory=declared_allowlist_inventory).rc == 0
    assert "gemma3:latest" in on_the_mac(lab)  # refused, not removed: prune is off


def test_prune_unloads_and_removes_an_undeclared_model_naming_it_first(lab):
    loaded = lab.ssh("curl -s http://127.0.0.1:11434/api/generate -d '{\"model\": \"gemma3\", \"prompt\": \"hi\"}'")
    assert loaded.rc == 0 and "gemma3" in lab.ssh("curl -s http://127.0.0.1:11434/api/ps").stdout
    drift = lab.drift(DECLARED, "--data", "ollama_models_prune=true")
    assert drift.rc == 2 and "Ensure the model gemma3:latest is gone (not in ollama_models)" in drift.stdout
    run = lab.deploy(DECLARED, "--data", "ollama_models_prune=true")
    assert run.rc == 0, run.output[-3000:]
    assert "Removing the model gemma3:latest: it is not in ollama_models" in run.output
    assert on_the_mac(lab) == {"llama3.2:latest", "nomic-embed-text:latest"}
    assert "gemma3" not in lab.ssh("curl -s http://127.0.0.1:11434/api/ps").stdout
    assert changed(lab.apply_json(DECLARED, "--data", "ollama_models_prune=true")) == []


def test_status_shows_each_model_declared_present_loaded_and_its_size(lab):
    """llama3.2 answered a chat from the tailnet a moment ago: loaded (Ollama keeps it 5 minutes)."""
    status = lab._run([sys.executable, "-m", "private_ollama", "status", "--inventory", "lab/inventory.py", DECLARED])
    assert status.rc == 0, status.output
    rows = {line.split()[0]: line.split()[1:] for line in status.stdout.splitlines() if line.startswith("  ")}
    assert rows["llama3.2:latest"] == ["yes", "yes", "yes", "2.0", "GB"]
    assert rows["nomic-embed-text:latest"][:2] == ["yes", "yes"] and rows["nomic-embed-text:latest"][-2:] == ["274", "MB"]
    assert "gemma3:latest" not in rows

